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
from typing import Literal, get_args

log = logging.getLogger(__name__)

Step = Literal["claimed", "downloaded", "encoding", "uploading", "uploaded", "published"]
STEPS: tuple[Step, ...] = get_args(Step)


class CrashPoints:
    def __init__(self, at: Step | None = None) -> None:
        self._at = at

    def reach(self, step: Step) -> None:
        if step == self._at:
            log.warning("crash point %r reached: killing this process", step)
            os.kill(os.getpid(), signal.SIGKILL)


NO_CRASHES = CrashPoints()
