"""API keys get a name, scopes, an expiry, a last use and a revocation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_SCOPES = ["manage", "read", "upload"]
_ADMIN_SCOPES = ["admin", "manage", "read", "upload"]


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    # The keys made before keys had scopes could do all their user could: they still do.
    keys = sa.table(
        "api_keys", sa.column("user_id", sa.String), sa.column("name"), sa.column("scopes", sa.JSON)
    )
    users = sa.table("users", sa.column("id", sa.String), sa.column("is_admin", sa.Boolean))
    admins = sa.select(users.c.id).where(users.c.is_admin == sa.true())
    op.execute(keys.update().values(name="default", scopes=_USER_SCOPES))
    op.execute(keys.update().where(keys.c.user_id.in_(admins)).values(scopes=_ADMIN_SCOPES))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("scopes", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in ("revoked_at", "last_used_at", "expires_at", "scopes", "name"):
            batch_op.drop_column(column)
