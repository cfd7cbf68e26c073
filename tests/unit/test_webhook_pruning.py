"""The server's pruning of old webhook deliveries: the cutoff it asks for, and a loop that
outlives a database that is away."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from vodstack.services.webhooks import keep_pruning

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Store:
    def __init__(self) -> None:
        self.cutoffs: list[datetime] = []
        self.thrice = asyncio.Event()

    async def prune(self, before: datetime) -> int:
        self.cutoffs.append(before)
        if len(self.cutoffs) == 3:
            self.thrice.set()
        if len(self.cutoffs) == 1:
            raise ConnectionError("the database is away")
        return 3


async def test_old_deliveries_are_pruned_again_and_again_despite_a_failure() -> None:
    store = Store()
    task = asyncio.create_task(
        keep_pruning(store, timedelta(days=30), every=0.001, clock=lambda: NOW)  # type: ignore[arg-type]
    )
    async with asyncio.timeout(10):
        await store.thrice.wait()
    task.cancel()
    assert set(store.cutoffs) == {NOW - timedelta(days=30)}
