"""What the probes answer: readiness (can this process do its work now?) and the metrics.

Each readiness check has a short timeout, so /readyz answers promptly even when a backend
hangs, and at most one check of each kind is in flight at a time, so that frequent probes
cannot pile up on a backend that does not answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from vodstack import errors, metrics
from vodstack.clock import Clock, utc_now
from vodstack.domain.jobs import JobCounts

log = logging.getLogger(__name__)

Check = Callable[[], Coroutine[Any, Any, None]]  # raises, saying why, unless ready
CHECK_TIMEOUT_SECONDS = 2.0
OK = "ok"


class Probes:
    def __init__(
        self,
        checks: Mapping[str, Check],
        job_counts: Callable[[], Awaitable[JobCounts]] | None = None,
        *,
        timeout: float = CHECK_TIMEOUT_SECONDS,
        clock: Clock = utc_now,
    ) -> None:
        """``job_counts``: the jobs by state, for the metrics; None in a process that should
        not report them (a worker: every process would report the same database)."""
        self._checks = dict(checks)
        self._job_counts = job_counts
        self._timeout = timeout
        self._clock = clock
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._last: dict[str, str] = {}

    async def readiness(self) -> dict[str, str]:
        """Each check's answer: "ok", or what is wrong."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._answer(name) for name in names))
        return dict(zip(names, answers, strict=True))

    async def metrics(self) -> bytes:
        """The metrics in Prometheus's text format, with the jobs counted just now."""
        if self._job_counts is not None:
            try:
                counts = await asyncio.wait_for(self._job_counts(), self._timeout)
            except Exception as exc:
                log.warning("could not count the jobs for the metrics: %s", _detail(exc))
                metrics.forget_job_counts()
            else:
                by_state = {status.value: n for status, n in counts.by_status.items()}
                metrics.set_job_counts(
                    by_state, counts.oldest_due_since, self._clock(), counts.playable_videos
                )
        return metrics.render()

    async def _answer(self, name: str) -> str:
        task = self._in_flight.get(name)
        if task is None or task.done():
            task = asyncio.create_task(self._checks[name](), name=f"readiness check {name}")
            task.add_done_callback(_retrieve)
            self._in_flight[name] = task
        try:
            await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except TimeoutError:
            return self._note(name, f"no answer within {self._timeout:g} s", "timed out")
        except Exception as exc:
            return self._note(name, _public(exc), _detail(exc))
        return self._note(name, OK, OK)

    def _note(self, name: str, answer: str, detail: str) -> str:
        """Log a check's changes only: probes come every few seconds."""
        before = self._last.get(name)
        self._last[name] = answer
        if answer != before:
            if answer == OK:
                if before is not None:
                    log.info("ready again: %s", name)
            else:
                log.warning("not ready: %s: %s", name, detail)
        return answer


def _public(exc: BaseException) -> str:
    """What an anonymous caller of /readyz may read: which kind of failure, not the hosts,
    names or messages behind it (those are logged)."""
    if isinstance(exc, errors.WorkerStalled):
        return exc.message
    return f"unavailable: {type(exc).__name__}"


def _detail(exc: BaseException) -> str:
    if isinstance(exc, errors.VodstackError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retrieve(task: asyncio.Task[None]) -> None:
    # A check that outlived its probe: its outcome is read here, so that asyncio does not
    # report it as never retrieved.
    if not task.cancelled():
        task.exception()
