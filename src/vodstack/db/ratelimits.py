"""The SQL behind the rate limits: one row per limit, caller and minute, counted up by one
upsert, so that every process on the database counts against the same number."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.db.session import reading, transaction
from vodstack.db.tables import rate_limits


class SqlRateLimitStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pruned = -1  # the minute this process last deleted old minutes in

    async def counted(self, name: str, caller: str, minute: int) -> int:
        async with reading(self._engine) as conn:
            count = await conn.scalar(
                select(rate_limits.c.requests).where(
                    rate_limits.c.name == name,
                    rate_limits.c.caller == caller,
                    rate_limits.c.minute == minute,
                )
            )
        return int(count or 0)

    async def take(self, name: str, caller: str, minute: int, most: int) -> int | None:
        if minute > self._pruned:
            # Once a minute per process: the sliding window never reads further back.
            self._pruned = minute
            async with transaction(self._engine) as conn:
                await conn.execute(delete(rate_limits).where(rate_limits.c.minute < minute - 1))
        if most < 1:
            return None  # the upsert would insert its first request unguarded
        # One statement: the database serialises concurrent upserts of the row, and the
        # guard reads the count as it is when this one's turn comes.
        new = self._insert().values(name=name, caller=caller, minute=minute, requests=1)
        upsert = new.on_conflict_do_update(
            index_elements=[rate_limits.c.name, rate_limits.c.caller, rate_limits.c.minute],
            set_={"requests": rate_limits.c.requests + 1},
            where=rate_limits.c.requests < most,
        ).returning(rate_limits.c.requests)
        async with transaction(self._engine) as conn:
            count = await conn.scalar(upsert)
        return None if count is None else int(count)

    def _insert(self) -> postgresql.Insert | sqlite.Insert:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert: postgresql.Insert | sqlite.Insert = dialect.insert(rate_limits)
        return insert
