"""The SQL behind the worker roster: one row per worker, its slots and until when it counts
as alive, renewed by one upsert at each of its heartbeats."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.clock import Clock, utc_now
from vodstack.db.session import reading, transaction
from vodstack.db.tables import workers


class SqlWorkerRoster:
    def __init__(self, engine: AsyncEngine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    async def enroll(self, worker: str, slots: int, alive_seconds: float) -> None:
        now = self._clock()
        until = now + timedelta(seconds=alive_seconds)
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        new = dialect.insert(workers).values(name=worker, slots=slots, alive_until=until)
        upsert = new.on_conflict_do_update(
            index_elements=[workers.c.name], set_={"slots": slots, "alive_until": until}
        )
        async with transaction(self._engine) as conn:
            # A killed worker never withdraws: its row goes once it has run out.
            await conn.execute(delete(workers).where(workers.c.alive_until < now))
            await conn.execute(upsert)

    async def withdraw(self, worker: str) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(delete(workers).where(workers.c.name == worker))

    async def live_slots(self) -> int:
        alive = select(func.coalesce(func.sum(workers.c.slots), 0)).where(
            workers.c.alive_until >= self._clock()
        )
        async with reading(self._engine) as conn:
            return int(await conn.scalar(alive) or 0)
