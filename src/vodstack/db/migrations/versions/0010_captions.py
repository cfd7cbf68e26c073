"""captions: text tracks of a video, from its source or added by its owner

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "captions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("video_id", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name="fk_captions_video_id_videos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_captions"),
    )
    op.create_index(
        "ix_captions_video_id_created_at", "captions", ["video_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_captions_video_id_created_at", table_name="captions")
    op.drop_table("captions")
