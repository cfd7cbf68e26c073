"""jobs become parts too: a split video's chunks and audio are jobs of their own

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("part", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("parent_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("rank", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("plan", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
        batch_op.drop_constraint("uq_jobs_video_id", type_="unique")
        batch_op.create_unique_constraint("uq_jobs_video_id_part", ["video_id", "part"])
        batch_op.create_foreign_key(
            "fk_jobs_parent_id_jobs", "jobs", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.drop_index("ix_jobs_status_available_at")
        batch_op.create_index(
            "ix_jobs_status_rank_available_at", ["status", "rank", "available_at"]
        )
        batch_op.create_index("ix_jobs_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_parent_id")
        batch_op.drop_index("ix_jobs_status_rank_available_at")
        batch_op.create_index("ix_jobs_status_available_at", ["status", "available_at"])
        batch_op.drop_constraint("fk_jobs_parent_id_jobs", type_="foreignkey")
        batch_op.drop_constraint("uq_jobs_video_id_part", type_="unique")
        batch_op.create_unique_constraint("uq_jobs_video_id", ["video_id"])
        for column in ("outputs", "plan", "rank", "parent_id", "part"):
            batch_op.drop_column(column)
