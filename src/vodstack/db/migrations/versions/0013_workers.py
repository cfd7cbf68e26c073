"""workers: each worker's job slots and until when it counts as alive

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("alive_until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_workers"),
    )
    op.create_index("ix_workers_alive_until", "workers", ["alive_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workers_alive_until", table_name="workers")
    op.drop_table("workers")
