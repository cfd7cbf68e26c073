"""Each job transition is guarded twice: by the pure rules of ``domain.jobs`` and by the
``WHERE`` of its UPDATE. One table of job states runs through both, on SQLite and
PostgreSQL, and they must agree on every row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.db import add_queued_video
from vodstack.db import sql_stores
from vodstack.db.jobs import claimable_sql, exhausted_sql, may_take
from vodstack.db.tables import jobs
from vodstack.domain.jobs import (
    IllegalTransition,
    JobState,
    JobStatus,
    Transition,
    claimable,
    exhausted,
    next_status,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TIMES = {"past": NOW - SECOND, "now": NOW, "future": NOW + SECOND}
MAX_ATTEMPTS = 3


def cases() -> list[JobState]:
    """Every status, with attempts left or spent, leases absent, run out, running out this
    instant or live, and due times before, at and after now."""
    leases: list[datetime | None] = [None, *TIMES.values()]
    return [
        JobState(status, 1, attempts, MAX_ATTEMPTS, lease, available)
        for status, attempts, lease, available in itertools.product(
            JobStatus, (MAX_ATTEMPTS - 1, MAX_ATTEMPTS), leases, TIMES.values()
        )
    ]


async def _stored(engine: AsyncEngine, states: list[JobState]) -> dict[str, JobState]:
    """One job row per state; by video id."""
    stores = sql_stores(engine, 60.0)
    rows = {}
    for state in states:
        video_id = await add_queued_video(stores, NOW, MAX_ATTEMPTS)
        async with engine.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.video_id == video_id)
                .values(
                    status=state.status,
                    epoch=state.epoch,
                    attempts=state.attempts,
                    lease_expires_at=state.lease_expires_at,
                    available_at=state.available_at,
                )
            )
        rows[video_id] = state
    return rows


async def _matching(engine: AsyncEngine, guard: object) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.execute(select(jobs.c.video_id).where(guard))  # type: ignore[arg-type]
        return {row[0] for row in found}


async def test_the_sql_guards_agree_with_the_pure_rules(engine: AsyncEngine) -> None:
    rows = await _stored(engine, cases())
    assert await _matching(engine, claimable_sql(NOW)) == {
        video for video, state in rows.items() if claimable(state, NOW)
    }
    assert await _matching(engine, exhausted_sql(NOW)) == {
        video for video, state in rows.items() if exhausted(state, NOW)
    }
    for transition in Transition:
        assert await _matching(engine, may_take(transition)) == {
            video for video, state in rows.items() if _allowed(state.status, transition)
        }, transition


def _allowed(status: JobStatus, transition: Transition) -> bool:
    try:
        next_status(status, transition)
    except IllegalTransition:
        return False
    return True


def test_the_table_has_every_kind_of_row() -> None:
    """Both answers of each rule occur in the table, so agreement means something."""
    states = cases()
    assert {claimable(s, NOW) for s in states} == {True, False}
    assert {exhausted(s, NOW) for s in states} == {True, False}
    assert {_allowed(s.status, t) for s in states for t in Transition} == {True, False}
