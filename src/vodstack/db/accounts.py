"""The SQL behind users and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack import errors
from vodstack.db.session import reading, transaction
from vodstack.db.tables import api_keys, users
from vodstack.domain.accounts import ApiKey, Scope, User, full_scopes

_KEY_COLUMNS = [
    api_keys.c.id.label("key_id"),
    api_keys.c.user_id,
    api_keys.c.name.label("key_name"),
    api_keys.c.scopes,
    api_keys.c.created_at.label("key_created_at"),
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
]


class SqlAccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_user(self, user: User, key_id: str, secret_hash: str, now: datetime) -> None:
        key = ApiKey(key_id, user.id, "default", full_scopes(user.is_admin), now)
        try:
            async with transaction(self._engine) as conn:
                await conn.execute(
                    insert(users).values(
                        id=user.id, name=user.name, is_admin=user.is_admin, created_at=now
                    )
                )
                await conn.execute(insert(api_keys).values(**_key_values(key, secret_hash)))
        except errors.Conflict:
            raise errors.Conflict(f"a user named {user.name!r} already exists") from None

    async def key(self, key_id: str) -> tuple[User, ApiKey, str] | None:
        query = (
            select(users, api_keys.c.secret_hash, *_KEY_COLUMNS)
            .select_from(api_keys.join(users, users.c.id == api_keys.c.user_id))
            .where(api_keys.c.id == key_id)
        )
        async with reading(self._engine) as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return User(row["id"], row["name"], row["is_admin"]), _key(row), row["secret_hash"]

    async def add_key(self, key: ApiKey, secret_hash: str) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(insert(api_keys).values(**_key_values(key, secret_hash)))

    async def keys(self, user_id: str) -> list[ApiKey]:
        query = (
            select(*_KEY_COLUMNS)
            .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
            .order_by(api_keys.c.created_at, api_keys.c.id)
        )
        async with reading(self._engine) as conn:
            return [_key(row) for row in (await conn.execute(query)).mappings()]

    async def revoke_key(self, key_id: str, user_id: str | None, now: datetime) -> bool:
        query = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        if user_id is not None:
            query = query.where(api_keys.c.user_id == user_id)
        async with transaction(self._engine) as conn:
            result = await conn.execute(query.values(revoked_at=now))
        return bool(result.rowcount)

    async def touch_key(self, key_id: str, now: datetime) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now)
            )

    async def users(self) -> list[User]:
        async with reading(self._engine) as conn:
            rows = (await conn.execute(select(users).order_by(users.c.name))).mappings()
            return [User(r["id"], r["name"], r["is_admin"]) for r in rows]

    async def count(self) -> int:
        async with reading(self._engine) as conn:
            return int(await conn.scalar(select(func.count()).select_from(users)) or 0)


def _key_values(key: ApiKey, secret_hash: str) -> dict[str, Any]:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "secret_hash": secret_hash,
        "created_at": key.created_at,
        "name": key.name,
        "scopes": sorted(s.value for s in key.scopes),
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["key_id"],
        user_id=row["user_id"],
        name=row["key_name"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        created_at=row["key_created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
