"""The SQL behind users and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack import errors
from vodstack.db.session import reading, transaction
from vodstack.db.tables import api_keys, users
from vodstack.domain.accounts import User


class SqlAccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_user(self, user: User, key_id: str, secret_hash: str, now: datetime) -> None:
        try:
            async with transaction(self._engine) as conn:
                await conn.execute(
                    insert(users).values(
                        id=user.id, name=user.name, is_admin=user.is_admin, created_at=now
                    )
                )
                await conn.execute(
                    insert(api_keys).values(
                        id=key_id, user_id=user.id, secret_hash=secret_hash, created_at=now
                    )
                )
        except errors.Conflict:
            raise errors.Conflict(f"a user named {user.name!r} already exists") from None

    async def key(self, key_id: str) -> tuple[User, str] | None:
        query = (
            select(users, api_keys.c.secret_hash)
            .select_from(api_keys.join(users, users.c.id == api_keys.c.user_id))
            .where(api_keys.c.id == key_id)
        )
        async with reading(self._engine) as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return User(row["id"], row["name"], row["is_admin"]), row["secret_hash"]

    async def count(self) -> int:
        async with reading(self._engine) as conn:
            return int(await conn.scalar(select(func.count()).select_from(users)) or 0)
