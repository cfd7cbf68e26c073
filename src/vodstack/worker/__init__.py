"""The worker loop: take a job from the job source, process it, settle it, repeat; stop
gracefully. Where jobs come from (the jobs table, or a message queue in front of it) is the
source's business: see ``worker.sources``."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from vodstack import errors, metrics
from vodstack.domain.jobs import Lease, Outcome, Settled
from vodstack.logs import log_context
from vodstack.ports import Claim, JobSource, WorkerRoster
from vodstack.worker.sources import pause

log = logging.getLogger(__name__)

KeepAlive = Callable[[], Awaitable[None]]
Process = Callable[[Lease, KeepAlive | None], Coroutine[Any, Any, Settled]]
# A slot shows it is alive at every turn of its loop, and while it works on a job at every
# heartbeat; silent for this many of its longest waits, it is taken to be stuck.
STALL_FACTOR = 3


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """``concurrency`` slots, each claiming and processing one job at a time.

    ``stop()`` once: claim nothing more, let running jobs finish for ``graceful_seconds``,
    then release them so another worker can claim them at once. ``stop()`` twice: release
    them now. ``check()`` says whether every slot's loop is turning."""

    def __init__(
        self,
        source: JobSource,
        process: Process,
        *,
        concurrency: int = 1,
        once: bool = False,
        graceful_seconds: float = 30.0,
        heartbeat_seconds: float = 15.0,
        pause_seconds: float = 1.0,
        name: str | None = None,
        roster: WorkerRoster | None = None,
    ) -> None:
        """``pause_seconds``: how long a slot rests after a job could not be recorded;
        ``roster``: where the worker enrols its slots, at every heartbeat, while it runs."""
        self.name = name or worker_id()
        self._roster = roster
        self._heartbeat_seconds = heartbeat_seconds
        self._source = source
        self._process = process
        self._concurrency = concurrency
        self._once = once
        self._graceful_seconds = graceful_seconds
        self._pause_seconds = pause_seconds
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[Settled]] = set()
        self._stops = 0
        self.processed = 0
        self._stall_seconds = STALL_FACTOR * max(source.longest_wait, heartbeat_seconds)
        self._alive_at: dict[str, float] = {}  # slot -> monotonic time of its last sign
        self._ended = False

    async def run(self) -> None:
        """Until stopped; with ``once``, until no job is left to claim."""
        slots = [
            asyncio.create_task(self._slot(f"{self.name}/{i}"), name=f"worker slot {i}")
            for i in range(self._concurrency)
        ]
        enrolment = asyncio.create_task(self._enrolled(), name="worker enrolment")
        metrics.WORKER_SLOTS.inc(self._concurrency)
        try:
            await asyncio.gather(*slots, return_exceptions=False)
        finally:
            self._ended = True
            metrics.WORKER_SLOTS.dec(self._concurrency)
            enrolment.cancel()
            await asyncio.gather(enrolment, return_exceptions=True)
            await self._withdraw()

    async def _enrolled(self) -> None:
        """Keep this worker's slots counted among the live ones while it takes jobs: they
        decide how finely a video is cut. A database that fails costs a renewal, never the
        worker; its enrolment runs out only after ``STALL_FACTOR`` missed heartbeats."""
        if self._roster is None:
            return
        enrolled = False
        while not self._stopping.is_set():
            try:
                await self._roster.enroll(
                    self.name, self._concurrency, STALL_FACTOR * self._heartbeat_seconds
                )
            except Exception as exc:
                log.warning("could not renew worker %s's enrolment: %s", self.name, exc)
            else:
                if not enrolled:
                    log.info("worker %s enrolled among the live workers", self.name)
                enrolled = True
            await pause(self._stopping, self._heartbeat_seconds)

    async def _withdraw(self) -> None:
        if self._roster is None:
            return
        try:
            await self._roster.withdraw(self.name)
        except Exception as exc:
            # Its enrolment runs out by itself.
            log.warning("could not withdraw worker %s: %s", self.name, exc)

    async def check(self) -> None:
        """Raise WorkerStalled unless every slot showed a sign of life lately."""
        if self._ended or self._stopping.is_set():
            raise errors.WorkerStalled("the worker is stopping or has stopped")
        if len(self._alive_at) < self._concurrency:
            raise errors.WorkerStalled("the worker has not started")
        now = time.monotonic()
        for slot, alive_at in self._alive_at.items():
            if now - alive_at > self._stall_seconds:
                raise errors.WorkerStalled(
                    f"worker slot {slot} gave no sign of life for {now - alive_at:.0f} s"
                )

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
            self._alive_at[owner] = time.monotonic()
            claim = await self._source.claim(owner, self._stopping, wait=not self._once)
            if claim is None:
                if self._once:
                    return
                continue
            lease = claim.lease
            # Every line logged about this job, here and in its tasks, names it.
            with log_context(
                video_id=lease.video_id, epoch=lease.epoch, worker_id=owner, job_id=lease.job_id
            ):
                await self._work_on(owner, claim)

    async def _work_on(self, owner: str, claim: Claim) -> None:
        lease = claim.lease

        async def keep_alive() -> None:
            self._alive_at[owner] = time.monotonic()
            await self._source.keep(claim)

        task = asyncio.create_task(self._process(lease, keep_alive), name=f"process {lease.job_id}")
        self._running.add(task)
        metrics.WORKER_BUSY_SLOTS.inc()
        try:
            settled = await task
            self.processed += 1
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                raise
            # Released by the shutdown: let the message come back for another worker.
            settled = Settled(Outcome.RELEASED)
        except Exception:
            # The job could not even be recorded (the database is away, say): its lease
            # runs out and it is claimed again. The worker itself goes on.
            log.exception("job %s epoch %s ended without a record", lease.job_id, lease.epoch)
            await pause(self._stopping, self._pause_seconds)
            return
        finally:
            self._running.discard(task)
            metrics.WORKER_BUSY_SLOTS.dec()
        await self._source.settle(claim, settled)
