"""The store contract suites run over the in-memory twins, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import empty_database
from vodstack.adapters.stores_memory import MemoryDatabase, memory_stores
from vodstack.clock import Clock
from vodstack.db import sql_stores
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate
from vodstack.ports import Stores

LEASE = 60.0

# Stores over the backend's one database; each call stands for another process.
StoresFactory = Callable[[Clock], Stores]


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def open_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoresFactory]:
    if request.param == "memory":
        database = MemoryDatabase()
        yield lambda clock: memory_stores(LEASE, clock, database)
        return
    url = await empty_database(request, str(request.param), tmp_path)
    engines: list[AsyncEngine] = []

    def open_sql(clock: Clock) -> Stores:
        engines.append(create_engine(url))
        return sql_stores(engines[-1], LEASE, clock)

    schema = create_engine(url)
    await migrate(schema)
    await schema.dispose()
    yield open_sql
    for engine in engines:
        await engine.dispose()


@pytest.fixture
def stores(open_stores: StoresFactory, clock: FakeClock) -> Stores:
    return open_stores(clock)
