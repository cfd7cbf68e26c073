"""The worker loop: find a job, process it, settle its message, repeat; stop gracefully.

Jobs are found one of two ways:
- the database is the queue: claim the oldest due job; when there is none, wait for a
  wakeup (LISTEN/NOTIFY on PostgreSQL) or the poll interval;
- an SQS queue: a message names a video, and the worker claims that video's job. The
  message stays hidden while the lease is alive and is deleted only after the outcome is
  committed. An idle worker also claims from the database now and then, so a job whose
  message was lost is still done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from vodstack import errors, metrics
from vodstack.db.jobs import JobStore, Lease
from vodstack.domain.jobs import LEASE_MARGIN_SECONDS, Outcome, Settled, message_verdict
from vodstack.faults import NO_CRASHES, CrashPoints
from vodstack.logs import log_context
from vodstack.ports import Delivery, Queue, Wakeup

log = logging.getLogger(__name__)

KeepAlive = Callable[[], Awaitable[None]]
NOTHING = object()  # no job is due
AGAIN = object()  # a message was settled without work; look again at once
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
        jobs: JobStore,
        process: Process,
        *,
        wakeup: Wakeup | None = None,
        queue: Queue | None = None,
        concurrency: int = 1,
        once: bool = False,
        poll_seconds: float = 1.0,
        graceful_seconds: float = 30.0,
        lease_seconds: float = 60.0,
        heartbeat_seconds: float = 15.0,
        queue_wait_seconds: float = 20.0,
        sweep_seconds: float = 30.0,
        name: str | None = None,
        crash_points: CrashPoints = NO_CRASHES,
    ) -> None:
        self.name = name or worker_id()
        self._jobs = jobs
        self._process = process
        self._wakeup = wakeup
        self._queue = queue
        self._concurrency = concurrency
        self._once = once
        self._poll_seconds = poll_seconds
        self._graceful_seconds = graceful_seconds
        self._lease_seconds = lease_seconds
        self._queue_wait_seconds = queue_wait_seconds
        self._sweep_seconds = sweep_seconds
        self._crash = crash_points
        self._last_sweep = time.monotonic()
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[Settled]] = set()
        self._stops = 0
        self.processed = 0
        longest_wait = max(poll_seconds, heartbeat_seconds, queue_wait_seconds if queue else 0)
        self._stall_seconds = STALL_FACTOR * longest_wait
        self._alive_at: dict[str, float] = {}  # slot -> monotonic time of its last sign
        self._ended = False

    async def run(self) -> None:
        """Until stopped; with ``once``, until no job is left to claim."""
        slots = [
            asyncio.create_task(self._slot(f"{self.name}/{i}"), name=f"worker slot {i}")
            for i in range(self._concurrency)
        ]
        metrics.WORKER_SLOTS.inc(self._concurrency)
        try:
            await asyncio.gather(*slots, return_exceptions=False)
        finally:
            self._ended = True
            metrics.WORKER_SLOTS.dec(self._concurrency)

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
            found = await self._next(owner)
            if found is NOTHING:
                if self._once:
                    return
                continue
            if found is AGAIN:
                continue
            assert isinstance(found, tuple)
            lease, delivery = found
            # Every line logged about this job, here and in its tasks, names it.
            with log_context(
                video_id=lease.video_id, epoch=lease.epoch, worker_id=owner, job_id=lease.job_id
            ):
                await self._work_on(owner, lease, delivery)

    async def _work_on(self, owner: str, lease: Lease, delivery: Delivery | None) -> None:
        task = asyncio.create_task(
            self._process(lease, self._keeper(owner, delivery)), name=f"process {lease.job_id}"
        )
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
            await self._idle(self._poll_seconds)
            return
        finally:
            self._running.discard(task)
            metrics.WORKER_BUSY_SLOTS.dec()
        if settled.outcome is Outcome.PUBLISHED:
            self._crash.reach("published")
        if delivery is not None:
            await self._settle(delivery, settled)

    # --- finding work ------------------------------------------------------------------

    async def _next(self, owner: str) -> tuple[Lease, Delivery | None] | object:
        """A lease to work on (with its message, if any), NOTHING when no job is due, or
        AGAIN when a message was settled without work and there may be more."""
        if self._queue is None:
            lease = await self._claim(owner)
            if lease is None and not self._once:
                await self._wait_for_wakeup()
            return NOTHING if lease is None else (lease, None)
        delivery = await self._receive(self._queue)
        if delivery is not None:
            lease = await self._take(self._queue, owner, delivery)
            return AGAIN if lease is None else (lease, delivery)
        if self._once or time.monotonic() - self._last_sweep >= self._sweep_seconds:
            self._last_sweep = time.monotonic()
            lease = await self._claim(owner)
            if lease is not None:
                log.info("claimed job %s from the database: its message was lost", lease.job_id)
                return lease, None
        return NOTHING

    async def _claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        try:
            lease = await self._jobs.claim(owner, video_id)
        except Exception as exc:  # the database may be restarting: wait, try again
            log.warning("claim failed: %s", exc)
            await self._idle(self._poll_seconds)
            return None
        if lease is not None:
            waited = (self._jobs.now() - lease.due_since).total_seconds()
            metrics.JOBS_CLAIMED.inc()
            metrics.QUEUE_WAIT.observe(max(0.0, waited))
        return lease

    async def _receive(self, queue: Queue) -> Delivery | None:
        receiving = asyncio.create_task(queue.receive(self._queue_wait_seconds))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not receiving.done():
            # Stopping: a message received after this comes back after its visibility timeout.
            receiving.cancel()
            return None
        try:
            return receiving.result()
        except Exception as exc:
            log.warning("receiving from the queue failed: %s", exc)
            await self._idle(self._poll_seconds)
            return None

    async def _take(self, queue: Queue, owner: str, delivery: Delivery) -> Lease | None:
        """Claim the job a message names, or settle the message as the job's state says."""
        if delivery.video_id is None:
            log.warning("dropping a message that names no vodstack video: %.200r", delivery.body)
            await self._quietly(queue.ack(delivery))
            return None
        lease = await self._claim(owner, delivery.video_id)
        if lease is not None:
            await self._quietly(queue.extend(delivery, self._lease_seconds + LEASE_MARGIN_SECONDS))
            return lease
        try:
            exists, state = await self._jobs.state_of(delivery.video_id)
        except Exception as exc:
            log.warning("could not look up video %s: %s", delivery.video_id, exc)
            return None  # the message comes back after its visibility timeout
        verdict = message_verdict(exists, state, self._jobs.now())
        if verdict.delete:
            log.info("message for video %s deleted: %s", delivery.video_id, verdict.why)
            await self._quietly(queue.ack(delivery))
        else:
            await self._quietly(queue.release(delivery, verdict.delay))
        return None

    # --- the message of a job in hand --------------------------------------------------

    def _keeper(self, owner: str, delivery: Delivery | None) -> KeepAlive:
        """Runs after every heartbeat that renewed the lease: the slot is alive, and the
        message, if any, stays hidden."""
        queue = self._queue

        async def keep_alive() -> None:
            self._alive_at[owner] = time.monotonic()
            if delivery is not None:
                assert queue is not None
                await queue.extend(delivery, self._lease_seconds + LEASE_MARGIN_SECONDS)

        return keep_alive

    async def _settle(self, delivery: Delivery, settled: Settled) -> None:
        """Runs only after the outcome was committed to the database."""
        queue = self._queue
        assert queue is not None
        if settled.outcome in (Outcome.PUBLISHED, Outcome.FAILED):
            await self._quietly(queue.ack(delivery))
        elif settled.outcome is Outcome.GAVE_UP:
            await self._quietly(queue.dead_letter(delivery))
        elif settled.outcome is Outcome.RETRYING:
            await self._quietly(queue.release(delivery, settled.retry_in))
        elif settled.outcome is Outcome.RELEASED:
            await self._quietly(queue.release(delivery, 0))
        # LOST: the message belongs to whoever holds the job now.

    async def _quietly(self, action: Awaitable[None]) -> None:
        """A queue call that fails costs a redelivery, which the database makes harmless."""
        try:
            await action
        except Exception as exc:
            log.warning("queue call failed: %s", exc)

    # --- waiting -----------------------------------------------------------------------

    async def _wait_for_wakeup(self) -> None:
        if self._wakeup is None:
            await self._idle(self._poll_seconds)
            return
        waiting = asyncio.create_task(self._wakeup.wait(self._poll_seconds))
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stopping):
            task.cancel()
        await asyncio.gather(waiting, stopping, return_exceptions=True)

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
