"""The job store's guarded transitions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.db import add_queued_video
from vodstack.db.engine import create_engine
from vodstack.db.jobs import JobStore
from vodstack.domain.jobs import JobStatus

LEASE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: AsyncEngine, clock: Clock) -> JobStore:
    return JobStore(engine, LEASE, clock)


async def test_racing_claimers_never_share_a_job(
    engine: AsyncEngine, store: JobStore, clock: Clock, database_url: str
) -> None:
    created = {await add_queued_video(engine, clock.now) for _ in range(6)}
    # A second engine stands in for a second worker process.
    other_engine = create_engine(database_url)
    other = JobStore(other_engine, LEASE, clock)
    try:
        claims = await asyncio.gather(*(s.claim(f"w{i}") for i, s in enumerate([store, other] * 8)))
    finally:
        await other_engine.dispose()
    won = [c for c in claims if c is not None]
    assert sorted(c.video_id for c in won) == sorted(created)
    assert all(c.epoch == 1 and c.attempts == 1 for c in won)


async def test_an_expired_lease_is_reclaimed_and_fences_out_the_old_holder(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    video_id = await add_queued_video(engine, clock.now)
    first = await store.claim("a")
    assert first is not None
    clock.advance(LEASE - 1)
    assert await store.claim("b") is None  # still leased
    assert await store.heartbeat(first, 0.5)
    clock.advance(LEASE - 1)
    assert await store.claim("b") is None  # the heartbeat extended it
    clock.advance(2)
    second = await store.claim("b")
    assert second is not None
    assert (second.video_id, second.epoch, second.attempts) == (video_id, 2, 2)

    # The old holder is fenced out of everything.
    assert not await store.heartbeat(first, 0.9)
    assert not await store.publish(first, [], 1.0, "libx264")
    assert not await store.fail(first, "x")
    assert await store.retry_or_fail(first, "x") is None
    assert not await store.release(first)

    assert await store.publish(second, [{"name": "720p"}], 12.5, "libx264")
    job = await store.job_of(video_id)
    assert job is not None
    assert (job["status"], job["published_epoch"], job["epoch"]) == ("ready", 2, 2)
    assert not await store.publish(second, [], 1.0, "libx264")  # published once only
    kinds = [(e.kind, e.epoch, e.worker) for e in await store.events(video_id)]
    assert kinds == [
        ("queued", 0, None),
        ("claimed", 1, "a"),
        ("claimed", 2, "b"),
        ("ready", 2, "b"),
    ]


async def test_a_lost_lease_fails_heartbeats_even_for_the_same_owner_name(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    await add_queued_video(engine, clock.now)
    first = await store.claim("same")
    clock.advance(LEASE + 1)
    second = await store.claim("same")
    assert first is not None
    assert second is not None
    assert not await store.heartbeat(first, 0.1)
    assert await store.heartbeat(second, 0.1)


async def test_transient_errors_back_off_then_fail_when_attempts_are_spent(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    video_id = await add_queued_video(engine, clock.now, max_attempts=2)
    lease = await store.claim("w")
    assert lease is not None
    assert await store.retry_or_fail(lease, "storage timed out") is JobStatus.QUEUED
    assert await store.claim("w") is None  # backing off
    clock.advance(6)
    lease = await store.claim("w")
    assert lease is not None
    assert lease.attempts == 2
    assert await store.retry_or_fail(lease, "storage timed out") is JobStatus.FAILED
    job = await store.job_of(video_id)
    assert job is not None
    assert job["status"] == "failed"
    assert job["last_error"] == "gave up after 2 attempts: storage timed out"


async def test_an_input_error_fails_at_once(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    video_id = await add_queued_video(engine, clock.now)
    lease = await store.claim("w")
    assert lease is not None
    assert await store.fail(lease, "no video stream")
    clock.advance(3600)
    assert await store.claim("w") is None
    assert (await store.events(video_id))[-1].reason == "no video stream"


async def test_a_job_whose_workers_keep_dying_fails_instead_of_sticking(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    video_id = await add_queued_video(engine, clock.now, max_attempts=2)
    for _ in range(2):
        assert await store.claim("w") is not None
        clock.advance(LEASE + 1)  # the worker died
    assert await store.claim("w") is None
    job = await store.job_of(video_id)
    assert job is not None
    assert job["status"] == "failed"
    assert "stopped responding" in job["last_error"]


async def test_release_hands_the_job_back_without_spending_an_attempt(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    await add_queued_video(engine, clock.now)
    lease = await store.claim("a")
    assert lease is not None
    assert await store.release(lease)
    again = await store.claim("b")
    assert again is not None
    assert (again.epoch, again.attempts) == (2, 1)


async def test_a_failed_video_can_be_requeued(
    engine: AsyncEngine, store: JobStore, clock: Clock
) -> None:
    video_id = await add_queued_video(engine, clock.now)
    assert not await store.requeue(video_id)  # only a failed job can be
    lease = await store.claim("w")
    assert lease is not None
    await store.fail(lease, "bad")
    assert await store.requeue(video_id)
    again = await store.claim("w")
    assert again is not None
    assert again.attempts == 1
    assert again.epoch == 2
