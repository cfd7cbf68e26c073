"""The worker loop: claim, process, repeat; stop gracefully on request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from vodstack.db.jobs import JobStore, Lease

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """``concurrency`` slots, each claiming and processing one job at a time.

    ``stop()`` once: claim nothing more, let running jobs finish for ``graceful_seconds``,
    then release them so another worker can claim them at once. ``stop()`` twice: release
    them now."""

    def __init__(
        self,
        jobs: JobStore,
        process: Callable[[Lease], Coroutine[Any, Any, None]],
        *,
        concurrency: int = 1,
        once: bool = False,
        poll_seconds: float = 1.0,
        graceful_seconds: float = 30.0,
        name: str | None = None,
    ) -> None:
        self.name = name or worker_id()
        self._jobs = jobs
        self._process = process
        self._concurrency = concurrency
        self._once = once
        self._poll_seconds = poll_seconds
        self._graceful_seconds = graceful_seconds
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._stops = 0
        self.processed = 0

    async def run(self) -> None:
        """Until stopped; with ``once``, until no job is left to claim."""
        slots = [
            asyncio.create_task(self._slot(f"{self.name}/{i}"), name=f"worker slot {i}")
            for i in range(self._concurrency)
        ]
        await asyncio.gather(*slots, return_exceptions=False)

    def stop(self) -> None:
        self._stops += 1
        self._stopping.set()
        if self._stops == 1:
            log.info(
                "worker %s stopping: finishing running jobs (up to %.0f s)",
                self.name,
                self._graceful_seconds,
            )
            asyncio.get_running_loop().call_later(self._graceful_seconds, self._release_all)
        else:
            log.info("worker %s stopping now: releasing running jobs", self.name)
            self._release_all()

    def _release_all(self) -> None:
        for task in self._running:
            task.cancel()

    async def _slot(self, owner: str) -> None:
        while not self._stopping.is_set():
            lease = await self._claim(owner)
            if lease is None:
                if self._once:
                    return
                await self._idle()
                continue
            task = asyncio.create_task(self._process(lease), name=f"process {lease.job_id}")
            self._running.add(task)
            try:
                await task
                self.processed += 1
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise
            except Exception:
                # The job could not even be recorded (the database is away, say): its lease
                # runs out and it is claimed again. The worker itself goes on.
                log.exception("job %s epoch %s ended without a record", lease.job_id, lease.epoch)
                await self._idle()
            finally:
                self._running.discard(task)

    async def _claim(self, owner: str) -> Lease | None:
        try:
            return await self._jobs.claim(owner)
        except Exception as exc:  # the database may be restarting: wait, try again
            log.warning("claim failed: %s", exc)
            await self._idle()
            return None

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._poll_seconds)
