"""Fixtures of the integration tests: a migrated database on each backend, and the
in-memory storage that test doubles of the transcoder read and write."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage(PartSigner(b"k", "http://x"))
