"""rate_limits: requests counted per limit, caller and minute, shared by every API process

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "caller", "minute", name="pk_rate_limits"),
    )
    op.create_index("ix_rate_limits_minute", "rate_limits", ["minute"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rate_limits_minute", table_name="rate_limits")
    op.drop_table("rate_limits")
