"""videos keep their quality receipt: each rung's measured quality and honesty

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a video published before receipts has none.
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("receipt")
