"""Rate limits shared by every API process on the database: each request is counted in the
database's ``rate_limits`` (or its in-memory twin), so N processes, or several play and
upload servers, allow the configured rate once, not N times. The window slides over whole
minutes (``vodstack.domain.ratelimits`` says how, and how far a burst can go); processes
agree on the minute by their wall clocks, so keep those in step (NTP)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from vodstack import errors
from vodstack.domain.ratelimits import minute_of, room, wait_seconds
from vodstack.ports import RateLimitStore

# The longest caller the store keeps; longer ones (none the API makes) are kept hashed.
_CALLER_LENGTH = 64


class RateLimiter:
    """At most ``per_minute`` of ``what`` (a plural, which also names the limit in the
    store) per caller, over a sliding minute."""

    def __init__(
        self,
        store: RateLimitStore,
        per_minute: int,
        what: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._limit = max(1, per_minute)
        self._what = what
        self._clock = clock

    async def take(self, caller: str) -> None:
        """Spend one request of ``caller``'s, or raise RateLimited saying when to retry."""
        if len(caller) > _CALLER_LENGTH:
            caller = hashlib.sha256(caller.encode()).hexdigest()
        minute, into = minute_of(self._clock())
        previous = await self._store.counted(self._what, caller, minute - 1)
        most = room(self._limit, previous, into)
        if await self._store.take(self._what, caller, minute, most) is not None:
            return
        # Refused: at least ``most`` are counted this minute.
        wait = wait_seconds(self._limit, previous, most, into)
        raise errors.RateLimited(
            f"too many {self._what}: at most {self._limit} a minute; try again in {wait} s",
            wait,
        )
