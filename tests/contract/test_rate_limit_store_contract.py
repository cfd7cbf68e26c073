"""One contract, every rate-limit store: requests counted per limit, caller and minute, with
the limit kept exactly however many processes take from it at once."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.conftest import FakeClock, StoresFactory
from vodstack import errors
from vodstack.ports import RateLimitStore, Stores
from vodstack.services.ratelimit import RateLimiter

MINUTE = 29_453_760  # 2026-01-01 00:00 UTC, the fake clock's start, in minutes


def _limiter(store: RateLimitStore, clock: FakeClock, per_minute: int) -> RateLimiter:
    return RateLimiter(store, per_minute, "uploads", clock=lambda: clock().timestamp())


async def test_each_request_is_counted_up_to_the_most(stores: Stores) -> None:
    limits = stores.rate_limits
    assert await limits.counted("uploads", "alice", MINUTE) == 0
    assert [await limits.take("uploads", "alice", MINUTE, 3) for _ in range(4)] == [1, 2, 3, None]
    assert await limits.counted("uploads", "alice", MINUTE) == 3
    assert await limits.take("uploads", "alice", MINUTE, 5) == 4  # a larger room lets one more


async def test_a_most_of_none_counts_nothing(stores: Stores) -> None:
    assert await stores.rate_limits.take("uploads", "alice", MINUTE, 0) is None
    assert await stores.rate_limits.counted("uploads", "alice", MINUTE) == 0


async def test_callers_limits_and_minutes_are_counted_apart(stores: Stores) -> None:
    limits = stores.rate_limits
    await limits.take("uploads", "alice", MINUTE, 10)
    await limits.take("uploads", "alice", MINUTE, 10)
    await limits.take("uploads", "bob", MINUTE, 10)
    await limits.take("playback tokens", "alice", MINUTE, 10)
    await limits.take("uploads", "alice", MINUTE + 1, 10)
    assert await limits.counted("uploads", "alice", MINUTE) == 2
    assert await limits.counted("uploads", "bob", MINUTE) == 1
    assert await limits.counted("playback tokens", "alice", MINUTE) == 1
    assert await limits.counted("uploads", "alice", MINUTE + 1) == 1


async def test_minutes_before_the_previous_are_forgotten(stores: Stores) -> None:
    limits = stores.rate_limits
    await limits.take("uploads", "alice", MINUTE, 10)
    await limits.take("uploads", "bob", MINUTE + 1, 10)
    assert await limits.counted("uploads", "alice", MINUTE) == 1  # the previous: still read
    await limits.take("uploads", "bob", MINUTE + 2, 10)
    assert await limits.counted("uploads", "alice", MINUTE) == 0
    assert await limits.counted("uploads", "bob", MINUTE + 1) == 1


async def test_the_limit_rolls_over_with_the_clock(stores: Stores, clock: FakeClock) -> None:
    limiter = _limiter(stores.rate_limits, clock, 3)
    for _ in range(3):
        await limiter.take("alice")
    with pytest.raises(errors.RateLimited) as refused:
        await limiter.take("alice")
    # Three at the start of a minute weigh two thirds of the limit 20 s into the next.
    assert refused.value.retry_after == 80
    clock.advance(79)
    with pytest.raises(errors.RateLimited):
        await limiter.take("alice")
    clock.advance(1)
    await limiter.take("alice")
    with pytest.raises(errors.RateLimited):
        await limiter.take("alice")


@pytest.mark.parametrize("limit", [1, 10])
async def test_processes_taking_at_once_allow_the_limit_exactly(
    open_stores: StoresFactory, clock: FakeClock, limit: int
) -> None:
    processes = [open_stores(clock).rate_limits for _ in range(2)]
    taken = await asyncio.gather(
        *(processes[i % 2].take("uploads", "alice", MINUTE, limit) for i in range(3 * limit + 4))
    )
    assert sorted(t for t in taken if t is not None) == list(range(1, limit + 1))
    limiters = [_limiter(store, clock, limit) for store in processes]
    clock.advance(120)  # a fresh minute, with nothing in the one before

    async def allowed(limiter: RateLimiter) -> bool:
        try:
            await limiter.take("bob")
        except errors.RateLimited:
            return False
        return True

    outcomes = await asyncio.gather(*(allowed(limiters[i % 2]) for i in range(3 * limit + 4)))
    assert outcomes.count(True) == limit
