"""The arithmetic of a rate limit: a sliding window over whole minutes, pure.

Each (limit, caller) has a count per minute since the epoch. A request at ``into`` seconds
into a minute is allowed while this minute's count, with it, plus the previous minute's
count weighted by the share of the last 60 seconds that still overlaps that minute, stays
within the limit. A caller asking faster than that gets close to the limit each minute (a
little under: the previous minute still weighs a little near this one's end), and never the
burst a fixed window lets through (the limit at the end of one minute and again at once at
the start of the next). The previous minute's requests are taken as evenly spread: when
they were bunched at its end, some 60 seconds can still hold up to nearly twice the limit,
though not all at once.
"""

from __future__ import annotations

import math

MINUTE = 60.0


def minute_of(seconds: float) -> tuple[int, float]:
    """The whole minute since the epoch that ``seconds`` falls in, and how far into it."""
    minute = math.floor(seconds / MINUTE)
    return minute, seconds - minute * MINUTE


def carried(previous: int, into: float) -> float:
    """How much of the previous minute's count still weighs, ``into`` seconds on."""
    return previous * (1.0 - into / MINUTE)


def room(limit: int, previous: int, into: float) -> int:
    """How many requests this minute may count in all, at ``into`` seconds into it."""
    # The nudge: a weight that lands on a whole number is not lost to rounding below it.
    return max(0, math.floor(limit - carried(previous, into) + 1e-9))


def wait_seconds(limit: int, previous: int, current: int, into: float) -> int:
    """Whole seconds until one more request fits, if none other is counted meanwhile:
    ``current`` were counted this minute and ``previous`` the minute before."""
    if current < limit:
        # This minute: once enough of the previous one has slid away.
        share = 1.0 - (limit - current - 1) / previous if previous else 0.0
        seconds = share * MINUTE - into
    else:
        # The next minute, when this one's count is what slides away.
        seconds = (MINUTE - into) + (1.0 - (limit - 1) / current) * MINUTE
    return max(1, math.ceil(seconds - 1e-9))
