"""Where a worker finds its jobs. Each source answers a claim with a lease or nothing:

- ``DatabaseSource``: the jobs table is the queue. Claim the oldest due job; when there is
  none, wait for a wakeup (LISTEN/NOTIFY on PostgreSQL) or the poll interval.
- ``QueueSource``: a message names a video, and the worker claims that video's job. The
  message stays hidden while the lease is alive and is deleted only after the outcome is
  committed. An idle worker also claims from the database now and then, so a job whose
  message was lost is still done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable

from vodstack import metrics
from vodstack.domain.jobs import LEASE_MARGIN_SECONDS, Lease, Outcome, Settled, message_verdict
from vodstack.ports import Claim, Delivery, JobStore, Queue, Wakeup

log = logging.getLogger(__name__)


async def claim_from(
    jobs: JobStore,
    owner: str,
    stopping: asyncio.Event,
    pause_seconds: float,
    video_id: str | None = None,
) -> Lease | None:
    """Claim a job, counted in the metrics. A database that fails (it may be restarting)
    costs a pause, never the worker."""
    try:
        lease = await jobs.claim(owner, video_id)
    except Exception as exc:
        log.warning("claim failed: %s", exc)
        await pause(stopping, pause_seconds)
        return None
    if lease is not None:
        waited = (jobs.now() - lease.due_since).total_seconds()
        metrics.JOBS_CLAIMED.inc()
        metrics.QUEUE_WAIT.observe(max(0.0, waited))
    return lease


async def pause(stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if the worker is stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class DatabaseSource:
    def __init__(self, jobs: JobStore, wakeup: Wakeup | None, poll_seconds: float) -> None:
        self._jobs = jobs
        self._wakeup = wakeup
        self._poll_seconds = poll_seconds
        self.longest_wait = poll_seconds

    async def claim(self, owner: str, stopping: asyncio.Event, *, wait: bool) -> Claim | None:
        lease = await claim_from(self._jobs, owner, stopping, self._poll_seconds)
        if lease is not None:
            return Claim(lease)
        if wait:
            await self._wait_for_wakeup(stopping)
        return None

    async def keep(self, claim: Claim) -> None:
        return None

    async def settle(self, claim: Claim, settled: Settled) -> None:
        # The jobs table is all there is, and the outcome is in it; idle workers are told
        # when a video was split, so its parts start at once.
        if settled.outcome is Outcome.SPLIT and self._wakeup is not None:
            for _ in range(settled.parts):
                await _quietly(self._wakeup.send(claim.lease.video_id))

    async def _wait_for_wakeup(self, stopping: asyncio.Event) -> None:
        if self._wakeup is None:
            await pause(stopping, self._poll_seconds)
            return
        waiting = asyncio.create_task(self._wakeup.wait(self._poll_seconds))
        stopped = asyncio.create_task(stopping.wait())
        await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stopped):
            task.cancel()
        await asyncio.gather(waiting, stopped, return_exceptions=True)


class QueueSource:
    def __init__(
        self,
        queue: Queue,
        jobs: JobStore,
        *,
        lease_seconds: float,
        poll_seconds: float,
        wait_seconds: float,
        sweep_seconds: float,
    ) -> None:
        self._queue = queue
        self._jobs = jobs
        self._hidden_for = lease_seconds + LEASE_MARGIN_SECONDS
        self._poll_seconds = poll_seconds
        self._wait_seconds = wait_seconds
        self._sweep_seconds = sweep_seconds
        self._last_sweep = time.monotonic()
        self.longest_wait = max(poll_seconds, wait_seconds)

    async def claim(self, owner: str, stopping: asyncio.Event, *, wait: bool) -> Claim | None:
        """The job of the next message that has one due; then, when the queue is empty and
        a sweep is due (or this is the last look), the oldest due job in the database."""
        while (delivery := await self._receive(stopping)) is not None:
            lease = await self._take(owner, delivery, stopping)
            if lease is not None:
                return Claim(lease, delivery)
        if stopping.is_set():
            return None
        if not wait or time.monotonic() - self._last_sweep >= self._sweep_seconds:
            self._last_sweep = time.monotonic()
            lease = await claim_from(self._jobs, owner, stopping, self._poll_seconds)
            if lease is not None:
                log.info("claimed job %s from the database: its message was lost", lease.job_id)
                return Claim(lease)
        return None

    async def keep(self, claim: Claim) -> None:
        if claim.delivery is not None:
            await self._queue.extend(claim.delivery, self._hidden_for)

    async def settle(self, claim: Claim, settled: Settled) -> None:
        delivery = claim.delivery
        if delivery is None:
            return
        if settled.outcome is Outcome.SPLIT:
            # One message per part: each names the video, whose best due part a receiving
            # worker claims. Sent before this one is deleted, so no part is left unnamed.
            for _ in range(settled.parts):
                await _quietly(self._queue.send(claim.lease.video_id))
        if settled.outcome in (Outcome.PUBLISHED, Outcome.FAILED, Outcome.SPLIT):
            await _quietly(self._queue.ack(delivery))
        elif settled.outcome is Outcome.GAVE_UP:
            await _quietly(self._queue.dead_letter(delivery))
        elif settled.outcome is Outcome.RETRYING:
            await _quietly(self._queue.release(delivery, settled.retry_in))
        elif settled.outcome is Outcome.RELEASED:
            await _quietly(self._queue.release(delivery, 0))
        # LOST: the message belongs to whoever holds the job now.

    async def _receive(self, stopping: asyncio.Event) -> Delivery | None:
        if stopping.is_set():
            return None
        receiving = asyncio.create_task(self._queue.receive(self._wait_seconds))
        stopped = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({receiving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not receiving.done():
            # Stopping: a message received after this comes back after its visibility timeout.
            receiving.cancel()
            return None
        try:
            return receiving.result()
        except Exception as exc:
            log.warning("receiving from the queue failed: %s", exc)
            await pause(stopping, self._poll_seconds)
            return None

    async def _take(self, owner: str, delivery: Delivery, stopping: asyncio.Event) -> Lease | None:
        """Claim the job a message names, or settle the message as the job's state says."""
        if delivery.video_id is None:
            log.warning("dropping a message that names no vodstack video: %.200r", delivery.body)
            await _quietly(self._queue.ack(delivery))
            return None
        lease = await claim_from(self._jobs, owner, stopping, self._poll_seconds, delivery.video_id)
        if lease is not None:
            await _quietly(self._queue.extend(delivery, self._hidden_for))
            return lease
        try:
            exists, state = await self._jobs.state_of(delivery.video_id)
        except Exception as exc:
            log.warning("could not look up video %s: %s", delivery.video_id, exc)
            return None  # the message comes back after its visibility timeout
        verdict = message_verdict(exists, state, self._jobs.now())
        if verdict.delete:
            log.info("message for video %s deleted: %s", delivery.video_id, verdict.why)
            await _quietly(self._queue.ack(delivery))
        else:
            await _quietly(self._queue.release(delivery, verdict.delay))
        return None


async def _quietly(action: Awaitable[None]) -> None:
    """A queue call that fails costs a redelivery, which the database makes harmless."""
    try:
        await action
    except Exception as exc:
        log.warning("queue call failed: %s", exc)
