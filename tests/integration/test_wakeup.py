"""Wakeups for idle workers when the database is the queue: PostgreSQL's LISTEN/NOTIFY
reaches a waiter in another connection (another process, in production); the local one
reaches a waiter in the same process."""

from __future__ import annotations

import asyncio
import time

import pytest

from vodstack.adapters.queue_db import LocalWakeup, PostgresWakeup
from vodstack.db.engine import create_engine

WAIT = 20.0  # far longer than a notification takes; the test fails if it is waited out


@pytest.mark.postgres
async def test_a_notification_wakes_a_waiter_on_another_connection(
    postgres_database: str,
) -> None:
    listening_engine = create_engine(postgres_database)
    sending_engine = create_engine(postgres_database)
    listener = PostgresWakeup(listening_engine, postgres_database)
    sender = PostgresWakeup(sending_engine, postgres_database)
    try:
        await listener.wait(0.5)  # starts listening
        await asyncio.sleep(0.5)
        started = time.monotonic()
        waiting = asyncio.create_task(listener.wait(WAIT))
        await asyncio.sleep(0.1)
        await sender.send("0" * 32)
        await asyncio.wait_for(waiting, WAIT + 5)
        assert time.monotonic() - started < WAIT / 2
    finally:
        for wakeup in (listener, sender):
            await wakeup.close()
        await listening_engine.dispose()
        await sending_engine.dispose()


async def test_the_local_wakeup_reaches_a_waiter_in_this_process() -> None:
    wakeup = LocalWakeup()
    started = time.monotonic()
    waiting = asyncio.create_task(wakeup.wait(WAIT))
    await asyncio.sleep(0.05)
    await wakeup.send("0" * 32)
    await asyncio.wait_for(waiting, WAIT + 5)
    assert time.monotonic() - started < WAIT / 2
