"""videos remember their poster's frame: the owner's choice, and the worker's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a video published before has no chosen frame, and its poster is its start.
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("poster_time", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("cover_time", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("cover_time")
        batch_op.drop_column("poster_time")
