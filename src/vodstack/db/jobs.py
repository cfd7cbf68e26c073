"""The SQL job store: every job transition as one guarded UPDATE, with the video's status
and the timeline event written in the same transaction.

A guard is always ``status IN (allowed sources)`` and, for a lease holder, ``epoch = its
epoch``: a worker whose lease was taken over (the epoch moved on) can change nothing. The
guards are the SQL twins of ``domain.jobs`` (``claimable``, ``exhausted``,
``allowed_from``); a table-driven test runs both over the same cases.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, and_, case, func, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.clock import Clock, utc_now
from vodstack.db.session import reading, transaction
from vodstack.db.tables import job_events, jobs, videos
from vodstack.domain.jobs import (
    JobCounts,
    JobEvent,
    JobState,
    JobStatus,
    JobView,
    Lease,
    Transition,
    after_error,
    allowed_from,
    backoff,
    next_status,
)

# --- the guards: SQL twins of the pure rules -------------------------------------------


def claimable_sql(now: datetime) -> ColumnElement[bool]:
    """``domain.jobs.claimable``: queued and due, or processing under a lease that ran
    out, with attempts left."""
    return and_(
        jobs.c.attempts < jobs.c.max_attempts,
        or_(
            and_(jobs.c.status == JobStatus.QUEUED, jobs.c.available_at <= now),
            and_(jobs.c.status == JobStatus.PROCESSING, jobs.c.lease_expires_at < now),
        ),
    )


def exhausted_sql(now: datetime) -> ColumnElement[bool]:
    """``domain.jobs.exhausted``: a lease ran out and no attempt is left."""
    return and_(
        jobs.c.status.in_(allowed_from(Transition.EXPIRE)),
        jobs.c.lease_expires_at < now,
        jobs.c.attempts >= jobs.c.max_attempts,
    )


def may_take(transition: Transition) -> ColumnElement[bool]:
    """``domain.jobs.next_status`` does not refuse ``transition`` from the row's status."""
    return jobs.c.status.in_(allowed_from(transition))


def held_by(lease: Lease, transition: Transition) -> ColumnElement[bool]:
    """The row is the lease's job, still at its epoch, in a status ``transition`` leaves."""
    return and_(jobs.c.id == lease.job_id, jobs.c.epoch == lease.epoch, may_take(transition))


# --- the timeline ------------------------------------------------------------------------


async def write_event(
    conn: AsyncConnection,
    *,
    job_id: str,
    video_id: str,
    at: datetime,
    kind: str,
    status: JobStatus,
    epoch: int,
    worker: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One step of a job's timeline, inside the caller's transaction."""
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
    await write_event(
        conn,
        job_id=job_id,
        video_id=video_id,
        at=now,
        kind="queued",
        status=JobStatus.QUEUED,
        epoch=0,
        reason="upload completed",
    )
    return job_id


class SqlJobStore:
    def __init__(self, engine: AsyncEngine, lease_seconds: float, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._skip_locked = engine.dialect.name == "postgresql"

    def now(self) -> datetime:
        return self._clock()

    # --- the lease holder's side ---------------------------------------------------------

    async def claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        now = self._clock()
        async with transaction(self._engine) as conn:
            await self._fail_exhausted(conn, now)
            row = await self._take_oldest_due(conn, owner, video_id, now)
            if row is None:
                return None
            lease = await self._lease_of(conn, row, owner)
            await _set_video(conn, lease.video_id, JobStatus.PROCESSING, now)
            await write_event(
                conn,
                job_id=lease.job_id,
                video_id=lease.video_id,
                at=now,
                kind=Transition.CLAIM,
                status=JobStatus.PROCESSING,
                epoch=lease.epoch,
                worker=owner,
                reason=f"attempt {lease.attempts} of {lease.max_attempts}",
            )
        return lease

    async def _take_oldest_due(
        self, conn: AsyncConnection, owner: str, video_id: str | None, now: datetime
    ) -> RowMapping | None:
        """One conditional UPDATE of the oldest claimable row that bumps its epoch. The
        guard is repeated in the UPDATE itself: on SQLite the subquery locks nothing."""
        oldest = select(jobs.c.id).where(claimable_sql(now))
        if video_id is not None:
            oldest = oldest.where(jobs.c.video_id == video_id)
        oldest = oldest.order_by(jobs.c.available_at).limit(1)
        if self._skip_locked:
            oldest = oldest.with_for_update(skip_locked=True)
        taken = (
            sql_update(jobs)
            .where(jobs.c.id == oldest.scalar_subquery(), claimable_sql(now))
            .values(
                status=next_status(JobStatus.QUEUED, Transition.CLAIM),
                epoch=jobs.c.epoch + 1,
                attempts=jobs.c.attempts + 1,
                lease_owner=owner,
                lease_expires_at=now + self._lease,
                progress=0.0,
                updated_at=now,
                # Unused while processing; kept as when the job became due, which the
                # worker reports as its wait in the queue. SET reads the row as it was.
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
        return (await conn.execute(taken)).mappings().first()

    @staticmethod
    async def _lease_of(conn: AsyncConnection, row: RowMapping, owner: str) -> Lease:
        source_key = await conn.scalar(
            select(videos.c.source_key).where(videos.c.id == row["video_id"])
        )
        return Lease(
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

    async def _fail_exhausted(self, conn: AsyncConnection, now: datetime) -> None:
        """Jobs whose every worker stopped responding fail rather than stay stuck."""
        target = next_status(JobStatus.PROCESSING, Transition.EXPIRE)
        reason = "the worker stopped responding on every attempt"
        expired = (
            sql_update(jobs)
            .where(exhausted_sql(now))
            .values(
                status=target,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                last_error=reason,
            )
            .returning(jobs.c.id, jobs.c.video_id, jobs.c.epoch, jobs.c.attempts)
        )
        for row in (await conn.execute(expired)).mappings().all():
            final = f"gave up after {row['attempts']} attempts: {reason}"
            await _set_video(conn, row["video_id"], target, now, error=final)
            await write_event(
                conn,
                job_id=row["id"],
                video_id=row["video_id"],
                at=now,
                kind=Transition.EXPIRE,
                status=target,
                epoch=row["epoch"],
                reason=final,
            )

    async def heartbeat(self, lease: Lease, progress: float) -> bool:
        now = self._clock()
        async with transaction(self._engine) as conn:
            result = await conn.execute(
                sql_update(jobs)
                .where(held_by(lease, Transition.HEARTBEAT), jobs.c.lease_owner == lease.owner)
                .values(
                    lease_expires_at=now + self._lease,
                    progress=max(0.0, min(1.0, progress)),
                    updated_at=now,
                )
            )
        return result.rowcount == 1

    async def record(
        self, lease: Lease, kind: str, reason: str, detail: dict[str, Any] | None = None
    ) -> bool:
        """Fenced like every write of a lease holder, so the timeline shows only what the
        holder of each epoch did."""
        now = self._clock()
        async with transaction(self._engine) as conn:
            held = await conn.execute(
                sql_update(jobs)
                .where(held_by(lease, Transition.HEARTBEAT), jobs.c.lease_owner == lease.owner)
                .values(updated_at=now)
            )
            if held.rowcount != 1:
                return False
            await write_event(
                conn,
                job_id=lease.job_id,
                video_id=lease.video_id,
                at=now,
                kind=kind,
                status=JobStatus.PROCESSING,
                epoch=lease.epoch,
                worker=lease.owner,
                reason=reason,
                detail=detail,
            )
        return True

    async def publish(
        self, lease: Lease, renditions: list[dict[str, Any]], duration: float, encoder: str
    ) -> bool:
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
        return await self._finish(
            lease,
            Transition.FAIL,
            job_values={"last_error": reason},
            video_values={"error": reason},
            reason=reason,
        )

    async def retry_or_fail(self, lease: Lease, reason: str) -> JobStatus | None:
        if after_error(lease.attempts, lease.max_attempts, retryable=True) is Transition.FAIL:
            final = f"gave up after {lease.attempts} attempts: {reason}"
            failed = await self._finish(
                lease,
                Transition.FAIL,
                job_values={"last_error": final},
                video_values={"error": final},
                reason=final,
            )
            return JobStatus.FAILED if failed else None
        wait = backoff(lease.attempts)
        retried = await self._finish(
            lease,
            Transition.RETRY,
            job_values={"last_error": reason, "available_at": self._clock() + wait},
            reason=f"{reason}; retrying in {wait.total_seconds():.0f} s",
        )
        return JobStatus.QUEUED if retried else None

    async def release(self, lease: Lease, reason: str = "worker shutting down") -> bool:
        # The attempt is not counted: a shutdown is not the job's fault.
        return await self._finish(
            lease,
            Transition.RELEASE,
            job_values={"attempts": jobs.c.attempts - 1, "available_at": self._clock()},
            reason=reason,
        )

    async def _finish(
        self,
        lease: Lease,
        transition: Transition,
        *,
        job_values: dict[str, Any],
        video_values: dict[str, Any] | None = None,
        reason: str,
    ) -> bool:
        """The lease holder ends its lease by ``transition``; False if it no longer held it."""
        now = self._clock()
        target = next_status(JobStatus.PROCESSING, transition)
        async with transaction(self._engine) as conn:
            result = await conn.execute(
                sql_update(jobs)
                .where(held_by(lease, transition))
                .values(
                    status=target,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    **job_values,
                )
            )
            if result.rowcount != 1:
                return False
            await _set_video(conn, lease.video_id, target, now, **(video_values or {}))
            await write_event(
                conn,
                job_id=lease.job_id,
                video_id=lease.video_id,
                at=now,
                kind=transition,
                status=target,
                epoch=lease.epoch,
                worker=lease.owner,
                reason=reason,
            )
        return True

    # --- everyone else's side --------------------------------------------------------------

    async def requeue(self, video_id: str) -> bool:
        now = self._clock()
        target = next_status(JobStatus.FAILED, Transition.REQUEUE)
        async with transaction(self._engine) as conn:
            requeued = (
                sql_update(jobs)
                .where(jobs.c.video_id == video_id, may_take(Transition.REQUEUE))
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
            row = (await conn.execute(requeued)).mappings().first()
            if row is None:
                return False
            await _set_video(conn, video_id, target, now, error=None)
            await write_event(
                conn,
                job_id=row["id"],
                video_id=video_id,
                at=now,
                kind=Transition.REQUEUE,
                status=target,
                epoch=row["epoch"],
                reason="retry requested",
            )
        return True

    async def events(self, video_id: str) -> list[JobEvent]:
        query = (
            select(job_events).where(job_events.c.video_id == video_id).order_by(job_events.c.id)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            JobEvent(
                at=r["at"],
                kind=r["kind"],
                status=r["status"],
                epoch=r["epoch"],
                worker=r["worker"],
                reason=r["reason"],
                detail=r["detail"],
            )
            for r in rows
        ]

    async def state_of(self, video_id: str) -> tuple[bool, JobState | None]:
        query = (
            select(jobs)
            .select_from(videos.outerjoin(jobs, jobs.c.video_id == videos.c.id))
            .where(videos.c.id == video_id)
        )
        async with reading(self._engine) as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return False, None
        return True, None if row["status"] is None else job_state(row)

    async def view(self, video_id: str) -> JobView | None:
        now = self._clock()
        async with reading(self._engine) as conn:
            query = select(jobs).where(jobs.c.video_id == video_id)
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            ahead = 0
            if row["status"] == JobStatus.QUEUED and row["available_at"] <= now:
                ahead = (await conn.execute(_queued_before(row["available_at"]))).scalar_one()
        return JobView(
            state=job_state(row),
            worker=row["lease_owner"],
            progress=row["progress"],
            last_error=row["last_error"],
            updated_at=row["updated_at"],
            ahead=ahead,
            published_epoch=row["published_epoch"],
            encoder=row["encoder"],
        )

    async def counts(self) -> JobCounts:
        by_status = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        oldest_due = select(func.min(jobs.c.available_at)).where(
            jobs.c.status == JobStatus.QUEUED,
            jobs.c.available_at <= self._clock(),
            jobs.c.attempts < jobs.c.max_attempts,
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(by_status)).all()
            oldest = await conn.scalar(oldest_due)
        counts = dict.fromkeys(JobStatus, 0)
        for status, count in rows:
            counts[JobStatus(status)] = count
        return JobCounts(counts, oldest)


def _queued_before(available_at: datetime) -> Select[Any]:
    """Due jobs that claims take first: they take the oldest ``available_at`` first."""
    earlier = and_(jobs.c.status == JobStatus.QUEUED, jobs.c.available_at < available_at)
    return select(func.count()).select_from(jobs).where(earlier)


async def _set_video(
    conn: AsyncConnection, video_id: str, status: JobStatus, now: datetime, **values: Any
) -> None:
    await conn.execute(
        sql_update(videos)
        .where(videos.c.id == video_id)
        .values(status=status.value, updated_at=now, **values)
    )


def job_state(row: RowMapping) -> JobState:
    """The fields of a jobs row that decide what may happen to it."""
    return JobState(
        status=JobStatus(row["status"]),
        epoch=row["epoch"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_expires_at=row["lease_expires_at"],
        available_at=row["available_at"],
    )
