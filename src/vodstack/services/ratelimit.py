"""Rate limits: a token bucket per caller, in this process's memory. Each API process
limits on its own, so N processes allow N times the rate; enough to stop a runaway client."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from vodstack import errors

_TRACKED = 100_000


class RateLimiter:
    def __init__(
        self, per_minute: int, what: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(max(1, per_minute))
        self._what = what
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str) -> None:
        """Spend one request of ``caller``'s, or raise RateLimited saying when to retry."""
        now = self._clock()
        tokens, at = self._buckets.get(caller, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self._rate)
            raise errors.RateLimited(f"too many {self._what}; try again in {wait} s", wait)
        self._buckets[caller] = (tokens - 1, now)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > _TRACKED:
            self._buckets.popitem(last=False)
