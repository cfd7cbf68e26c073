"""Crash points: the fault-injection suite SIGKILLs a worker at a named step of a job, from
inside, so the kill lands exactly there. Off unless ``VODSTACK_CRASH_AT`` names a step.

The steps, in order: ``claimed``, ``downloaded``, ``encoding`` (ffmpeg a fifth done),
``uploading`` (half the outputs stored), ``uploaded`` (before the publish) and ``published``
(before the queue message is deleted).
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

STEPS = ("claimed", "downloaded", "encoding", "uploading", "uploaded", "published")


class CrashPoints:
    def __init__(self, at: str | None = None) -> None:
        if at is not None and at not in STEPS:
            raise ValueError(f"unknown crash point {at!r}; expected one of {', '.join(STEPS)}")
        self._at = at

    def reach(self, step: str) -> None:
        if step == self._at:
            log.warning("crash point %r reached: killing this process", step)
            os.kill(os.getpid(), signal.SIGKILL)


NO_CRASHES = CrashPoints()
