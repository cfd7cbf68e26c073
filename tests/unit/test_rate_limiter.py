"""The rate limiter over the in-memory store, with the clock moved by hand: a sliding minute
per caller, shared by every limiter on one database, and a wait that is exact."""

from __future__ import annotations

import pytest

from vodstack import errors
from vodstack.adapters.stores_memory import MemoryDatabase, memory_stores
from vodstack.domain.ratelimits import MINUTE, room, wait_seconds
from vodstack.services.ratelimit import RateLimiter

START = 1_800_000_000.0  # a whole minute since the epoch


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _limiter(
    clock: Clock, per_minute: int, what: str = "uploads", db: MemoryDatabase | None = None
) -> RateLimiter:
    store = memory_stores(database=db or MemoryDatabase()).rate_limits
    return RateLimiter(store, per_minute, what, clock=clock)


async def _allowed(limiter: RateLimiter, caller: str, times: int) -> int:
    allowed = 0
    for _ in range(times):
        try:
            await limiter.take(caller)
            allowed += 1
        except errors.RateLimited:
            pass
    return allowed


async def test_the_limit_is_allowed_then_refused_with_the_wait_in_words() -> None:
    clock = Clock()
    limiter = _limiter(clock, 2)
    assert await _allowed(limiter, "alice", 2) == 2
    with pytest.raises(errors.RateLimited) as refused:
        await limiter.take("alice")
    # Two at a minute's start: one of them has slid away 30 s into the next minute.
    assert refused.value.retry_after == 90
    assert str(refused.value) == "too many uploads: at most 2 a minute; try again in 90 s"


async def test_the_wait_it_gives_is_exactly_enough() -> None:
    clock = Clock()
    limiter = _limiter(clock, 5)
    clock.now += 40
    await _allowed(limiter, "alice", 5)
    clock.now += 30  # 10 s into the next minute
    await _allowed(limiter, "alice", 1)
    with pytest.raises(errors.RateLimited) as refused:
        await limiter.take("alice")
    wait = refused.value.retry_after
    clock.now += wait - 1
    assert await _allowed(limiter, "alice", 1) == 0
    clock.now += 1
    assert await _allowed(limiter, "alice", 1) == 1


async def test_no_burst_of_twice_the_limit_across_a_minute_boundary() -> None:
    clock = Clock()
    limiter = _limiter(clock, 6)
    clock.now += 59
    assert await _allowed(limiter, "alice", 10) == 6
    clock.now += 2  # 1 s into the next minute: the six still weigh almost fully
    assert await _allowed(limiter, "alice", 10) == 0
    clock.now += 29  # halfway: half of them have slid away
    assert await _allowed(limiter, "alice", 10) == 3


async def test_a_caller_asking_too_fast_gets_near_the_limit_never_above() -> None:
    clock = Clock()
    limiter = _limiter(clock, 6)
    allowed = []
    for _ in range(10):  # twice the limit, for ten minutes
        in_this_minute = 0
        for _ in range(12):
            clock.now += 5
            in_this_minute += await _allowed(limiter, "alice", 1)
        allowed.append(in_this_minute)
    assert allowed[0] == 6
    assert all(5 <= n <= 6 for n in allowed), allowed


async def test_callers_and_limits_are_apart_and_processes_share() -> None:
    clock, db = Clock(), MemoryDatabase()
    uploads, tokens = _limiter(clock, 1, db=db), _limiter(clock, 1, "playback tokens", db=db)
    assert await _allowed(uploads, "alice", 2) == 1
    assert await _allowed(uploads, "bob", 1) == 1
    assert await _allowed(tokens, "alice", 1) == 1
    another_process = _limiter(clock, 1, db=db)
    assert await _allowed(another_process, "alice", 1) == 0
    assert await _allowed(_limiter(clock, 1), "alice", 1) == 1  # another database


async def test_long_callers_are_kept_apart() -> None:
    limiter = _limiter(Clock(), 1)
    same_start = "a" * 100
    assert await _allowed(limiter, same_start + "1", 2) == 1
    assert await _allowed(limiter, same_start + "2", 1) == 1


def test_a_wait_lets_one_more_in_and_a_second_less_does_not() -> None:
    for limit in (1, 2, 5, 60):
        for previous in (0, 1, limit, 3 * limit):
            for current in range(limit + 2):
                for into in (0.0, 0.5, 17.0, 59.5):
                    if current < room(limit, previous, into):
                        continue  # this one would be allowed: no wait
                    wait = wait_seconds(limit, previous, current, into)
                    assert _fits(limit, previous, current, into + wait)
                    if wait > 1:
                        assert not _fits(limit, previous, current, into + wait - 1)


def _fits(limit: int, previous: int, current: int, at: float) -> bool:
    """Whether one more fits ``at`` seconds after the start of the minute of ``current``."""
    if at < MINUTE:
        return current < room(limit, previous, at)
    if at < 2 * MINUTE:
        return room(limit, current, at - MINUTE) > 0
    return True
