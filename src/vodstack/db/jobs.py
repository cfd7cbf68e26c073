"""The job store: every job transition as one guarded UPDATE, with the video's status and
the timeline event written in the same transaction.

A guard is always ``status IN (allowed sources)`` and, for a lease holder, ``epoch = its
epoch``: a worker whose lease was taken over (the epoch moved on) can change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, and_, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.clock import Clock, utc_now
from vodstack.db.tables import job_events, jobs, videos
from vodstack.domain.jobs import (
    JobState,
    JobStatus,
    JobView,
    Transition,
    after_error,
    allowed_from,
    backoff,
    next_status,
)


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on a job, valid while ``epoch`` is the job's current epoch."""

    job_id: str
    video_id: str
    source_key: str
    epoch: int
    owner: str
    attempts: int
    max_attempts: int
    due_since: datetime  # when the job became claimable: queued, or its last lease ran out
    trace_context: str | None = None  # the W3C traceparent of the request that queued it


@dataclass(frozen=True, slots=True)
class JobCounts:
    """How many jobs are in each state, and since when the oldest due job has waited."""

    by_status: dict[JobStatus, int]
    oldest_due_since: datetime | None


@dataclass(frozen=True, slots=True)
class JobEvent:
    at: datetime
    kind: str
    status: str
    epoch: int
    worker: str | None
    reason: str | None
    detail: dict[str, Any] | None


async def enqueue_job(
    conn: AsyncConnection,
    video_id: str,
    max_attempts: int,
    now: datetime,
    trace_context: str | None = None,
) -> str:
    """Insert a queued job and its first timeline event, inside the caller's transaction."""
    job_id = uuid.uuid4().hex
    await conn.execute(
        insert(jobs).values(
            id=job_id,
            video_id=video_id,
            status=JobStatus.QUEUED,
            epoch=0,
            attempts=0,
            max_attempts=max_attempts,
            progress=0.0,
            available_at=now,
            created_at=now,
            updated_at=now,
            trace_context=trace_context,
        )
    )
    await _event(
        conn, job_id, video_id, now, "queued", JobStatus.QUEUED, 0, None, "upload completed"
    )
    return job_id


class JobStore:
    def __init__(self, engine: AsyncEngine, lease_seconds: float, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._skip_locked = engine.dialect.name == "postgresql"

    # --- the lease holder's side -------------------------------------------------------

    async def claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        """Take the oldest due job (or ``video_id``'s, when a queue message names it), or
        one whose lease ran out: one conditional UPDATE that bumps the epoch. Jobs whose
        lease ran out with no attempts left fail here first."""
        now = self._clock()
        async with self._engine.begin() as conn:
            await self._fail_exhausted(conn, now)
            candidate = select(jobs.c.id).where(_claimable(now))
            if video_id is not None:
                candidate = candidate.where(jobs.c.video_id == video_id)
            candidate = candidate.order_by(jobs.c.available_at).limit(1)
            if self._skip_locked:
                candidate = candidate.with_for_update(skip_locked=True)
            row = (
                (
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.id == candidate.scalar_subquery(), _claimable(now))
                        .values(
                            status=next_status(JobStatus.QUEUED, Transition.CLAIM),
                            epoch=jobs.c.epoch + 1,
                            attempts=jobs.c.attempts + 1,
                            lease_owner=owner,
                            lease_expires_at=now + self._lease,
                            progress=0.0,
                            updated_at=now,
                            # Unused while processing; kept as when the job became due,
                            # which the worker reports as its wait in the queue. SET reads
                            # the row as it was, before this UPDATE.
                            available_at=case(
                                (jobs.c.status == JobStatus.PROCESSING, jobs.c.lease_expires_at),
                                else_=jobs.c.available_at,
                            ),
                        )
                        .returning(
                            jobs.c.id,
                            jobs.c.video_id,
                            jobs.c.epoch,
                            jobs.c.attempts,
                            jobs.c.max_attempts,
                            jobs.c.available_at,
                            jobs.c.trace_context,
                        )
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            source_key = await conn.scalar(
                select(videos.c.source_key).where(videos.c.id == row["video_id"])
            )
            lease = Lease(
                job_id=row["id"],
                video_id=row["video_id"],
                source_key=str(source_key),
                epoch=row["epoch"],
                owner=owner,
                attempts=row["attempts"],
                max_attempts=row["max_attempts"],
                due_since=row["available_at"],
                trace_context=row["trace_context"],
            )
            await self._set_video(conn, lease.video_id, JobStatus.PROCESSING, now)
            reason = f"attempt {lease.attempts} of {lease.max_attempts}"
            await _event(
                conn,
                lease.job_id,
                lease.video_id,
                now,
                Transition.CLAIM,
                JobStatus.PROCESSING,
                lease.epoch,
                owner,
                reason,
            )
        return lease

    async def heartbeat(self, lease: Lease, progress: float) -> bool:
        """Extend the lease; False means it was lost and the work must stop."""
        now = self._clock()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(jobs)
                .where(
                    _held_by(lease, Transition.HEARTBEAT),
                    jobs.c.lease_owner == lease.owner,
                )
                .values(
                    lease_expires_at=now + self._lease,
                    progress=max(0.0, min(1.0, progress)),
                    updated_at=now,
                )
            )
        return result.rowcount == 1

    async def publish(
        self, lease: Lease, renditions: list[dict[str, Any]], duration: float, encoder: str
    ) -> bool:
        """Make this epoch's outputs the video's. False if the lease was lost."""
        return await self._finish(
            lease,
            Transition.PUBLISH,
            job_values={
                "published_epoch": lease.epoch,
                "progress": 1.0,
                "encoder": encoder,
                "last_error": None,
            },
            video_values={"renditions": renditions, "duration": duration, "error": None},
            reason=f"published epoch {lease.epoch} with {len(renditions)} renditions",
        )

    async def fail(self, lease: Lease, reason: str) -> bool:
        """The input is unusable: fail at once, no retry."""
        return await self._finish(
            lease, Transition.FAIL, {"last_error": reason}, {"error": reason}, reason
        )

    async def retry_or_fail(self, lease: Lease, reason: str) -> JobStatus | None:
        """A transient error: back to the queue after a backoff, or failed when the attempts
        are spent. None if the lease was lost."""
        transition = after_error(lease.attempts, lease.max_attempts, retryable=True)
        if transition is Transition.FAIL:
            final = f"gave up after {lease.attempts} attempts: {reason}"
            done = await self._finish(
                lease, Transition.FAIL, {"last_error": final}, {"error": final}, final
            )
            return JobStatus.FAILED if done else None
        wait = backoff(lease.attempts)
        done = await self._finish(
            lease,
            Transition.RETRY,
            {"last_error": reason, "available_at": self._clock() + wait},
            {},
            f"{reason}; retrying in {wait.total_seconds():.0f} s",
        )
        return JobStatus.QUEUED if done else None

    async def release(self, lease: Lease, reason: str = "worker shutting down") -> bool:
        """Give the job back for another worker to claim at once. The attempt is not counted:
        a shutdown is not the job's fault."""
        return await self._finish(
            lease,
            Transition.RELEASE,
            {"attempts": jobs.c.attempts - 1, "available_at": self._clock()},
            {},
            reason,
        )

    async def record(
        self, lease: Lease, kind: str, reason: str, detail: dict[str, Any] | None = None
    ) -> bool:
        """Add a step to the timeline (the encoder chosen, the ffmpeg command line...).
        Fenced like every write of a lease holder: a worker whose lease was taken over adds
        nothing, so the timeline shows only what the holder of each epoch did."""
        now = self._clock()
        async with self._engine.begin() as conn:
            held = await conn.execute(
                update(jobs)
                .where(_held_by(lease, Transition.HEARTBEAT), jobs.c.lease_owner == lease.owner)
                .values(updated_at=now)
            )
            if held.rowcount != 1:
                return False
            await _event(
                conn,
                lease.job_id,
                lease.video_id,
                now,
                kind,
                JobStatus.PROCESSING,
                lease.epoch,
                lease.owner,
                reason,
                detail,
            )
        return True

    # --- everyone else's side ----------------------------------------------------------

    async def requeue(self, video_id: str) -> bool:
        """A person retries a failed video: a fresh set of attempts."""
        now = self._clock()
        target = next_status(JobStatus.FAILED, Transition.REQUEUE)
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        update(jobs)
                        .where(
                            jobs.c.video_id == video_id,
                            jobs.c.status.in_(allowed_from(Transition.REQUEUE)),
                        )
                        .values(
                            status=target,
                            attempts=0,
                            available_at=now,
                            updated_at=now,
                            lease_owner=None,
                            lease_expires_at=None,
                        )
                        .returning(jobs.c.id, jobs.c.epoch)
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return False
            await self._set_video(conn, video_id, target, now, error=None)
            await _event(
                conn,
                row["id"],
                video_id,
                now,
                Transition.REQUEUE,
                target,
                row["epoch"],
                None,
                "retry requested",
            )
        return True

    async def events(self, video_id: str) -> list[JobEvent]:
        query = (
            select(job_events).where(job_events.c.video_id == video_id).order_by(job_events.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            JobEvent(
                r["at"], r["kind"], r["status"], r["epoch"], r["worker"], r["reason"], r["detail"]
            )
            for r in rows
        ]

    async def state_of(self, video_id: str) -> tuple[bool, JobState | None]:
        """Whether the video exists, and its job's state (None before its upload completed)."""
        query = (
            select(
                jobs.c.status,
                jobs.c.epoch,
                jobs.c.attempts,
                jobs.c.max_attempts,
                jobs.c.lease_expires_at,
                jobs.c.available_at,
            )
            .select_from(videos.outerjoin(jobs, jobs.c.video_id == videos.c.id))
            .where(videos.c.id == video_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return False, None
        if row["status"] is None:
            return True, None
        return True, _job_state(row)

    async def view(self, video_id: str) -> JobView | None:
        """The job as a person asks about it, with how many due jobs are claimed before it
        (claims take the oldest ``available_at`` first)."""
        now = self._clock()
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(jobs).where(jobs.c.video_id == video_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            ahead = 0
            if row["status"] == JobStatus.QUEUED and row["available_at"] <= now:
                earlier = and_(
                    jobs.c.status == JobStatus.QUEUED, jobs.c.available_at < row["available_at"]
                )
                ahead = (await conn.execute(select(func.count()).where(earlier))).scalar_one()
        return JobView(
            _job_state(row),
            row["lease_owner"],
            row["progress"],
            row["last_error"],
            row["updated_at"],
            ahead,
        )

    def now(self) -> datetime:
        return self._clock()

    async def counts(self) -> JobCounts:
        """For the metrics; every state is present, with 0 when no job is in it."""
        by_status = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        oldest_due = select(func.min(jobs.c.available_at)).where(
            jobs.c.status == JobStatus.QUEUED,
            jobs.c.available_at <= self._clock(),
            jobs.c.attempts < jobs.c.max_attempts,
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(by_status)).all()
            oldest = await conn.scalar(oldest_due)
        counts = dict.fromkeys(JobStatus, 0)
        for status, count in rows:
            counts[JobStatus(status)] = count
        return JobCounts(counts, oldest)

    async def job_of(self, video_id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.video_id == video_id))).mappings()
            found = row.first()
        return None if found is None else dict(found)

    # --- helpers -----------------------------------------------------------------------

    async def _finish(
        self,
        lease: Lease,
        transition: Transition,
        job_values: dict[str, Any],
        video_values: dict[str, Any],
        reason: str,
    ) -> bool:
        now = self._clock()
        target = next_status(JobStatus.PROCESSING, transition)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(jobs)
                .where(_held_by(lease, transition))
                .values(
                    status=target,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    **job_values,
                )
            )
            if result.rowcount != 1:
                await conn.rollback()
                return False
            await self._set_video(conn, lease.video_id, target, now, **video_values)
            await _event(
                conn,
                lease.job_id,
                lease.video_id,
                now,
                transition,
                target,
                lease.epoch,
                lease.owner,
                reason,
            )
        return True

    async def _fail_exhausted(self, conn: AsyncConnection, now: datetime) -> None:
        target = next_status(JobStatus.PROCESSING, Transition.EXPIRE)
        reason = "the worker stopped responding on every attempt"
        rows = (
            (
                await conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.status.in_(allowed_from(Transition.EXPIRE)),
                        jobs.c.lease_expires_at < now,
                        jobs.c.attempts >= jobs.c.max_attempts,
                    )
                    .values(
                        status=target,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=now,
                        last_error=reason,
                    )
                    .returning(jobs.c.id, jobs.c.video_id, jobs.c.epoch, jobs.c.attempts)
                )
            )
            .mappings()
            .all()
        )
        for row in rows:
            final = f"gave up after {row['attempts']} attempts: {reason}"
            await self._set_video(conn, row["video_id"], target, now, error=final)
            await _event(
                conn,
                row["id"],
                row["video_id"],
                now,
                Transition.EXPIRE,
                target,
                row["epoch"],
                None,
                final,
            )

    @staticmethod
    async def _set_video(
        conn: AsyncConnection, video_id: str, status: JobStatus, now: datetime, **values: Any
    ) -> None:
        await conn.execute(
            update(videos)
            .where(videos.c.id == video_id)
            .values(status=status.value, updated_at=now, **values)
        )


def _claimable(now: datetime) -> ColumnElement[bool]:
    """The SQL twin of ``domain.jobs.claimable``."""
    return and_(
        jobs.c.attempts < jobs.c.max_attempts,
        or_(
            and_(jobs.c.status == JobStatus.QUEUED, jobs.c.available_at <= now),
            and_(jobs.c.status == JobStatus.PROCESSING, jobs.c.lease_expires_at < now),
        ),
    )


def _held_by(lease: Lease, transition: Transition) -> ColumnElement[bool]:
    return and_(
        jobs.c.id == lease.job_id,
        jobs.c.epoch == lease.epoch,
        jobs.c.status.in_(allowed_from(transition)),
    )


def _job_state(row: RowMapping) -> JobState:
    return JobState(
        status=JobStatus(row["status"]),
        epoch=row["epoch"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_expires_at=row["lease_expires_at"],
        available_at=row["available_at"],
    )


async def _event(
    conn: AsyncConnection,
    job_id: str,
    video_id: str,
    at: datetime,
    kind: str,
    status: JobStatus,
    epoch: int,
    worker: str | None,
    reason: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        insert(job_events).values(
            job_id=job_id,
            video_id=video_id,
            at=at,
            kind=str(kind),
            status=status.value,
            epoch=epoch,
            worker=worker,
            reason=reason,
            detail=detail,
        )
    )
