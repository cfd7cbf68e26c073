"""The SQL job store: every job transition as one guarded UPDATE, with the video's status
and the timeline event written in the same transaction.

A guard is always ``status IN (allowed sources)`` and, for a lease holder, ``epoch = its
epoch``: a worker whose lease was taken over (the epoch moved on) can change nothing. The
guards are the SQL twins of ``domain.jobs`` (``claimable``, ``exhausted``,
``allowed_from``); a table-driven test runs both over the same cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    and_,
    case,
    func,
    insert,
    null,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.clock import Clock, utc_now
from vodstack.db.captions import replace_source_captions
from vodstack.db.session import reading, transaction
from vodstack.db.tables import job_events, jobs, videos
from vodstack.db.webhooks import video_changed
from vodstack.domain.captions import Caption
from vodstack.domain.chunks import (
    PartOutput,
    PartSpec,
    VideoPlan,
    assemble,
    describe_plan,
    replaces,
)
from vodstack.domain.jobs import (
    WARNED,
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
    progress_of,
    warned_reason,
)
from vodstack.domain.videos import VideoStatus

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


def own_job() -> ColumnElement[bool]:
    """Joins a video to its own job, not to its parts'."""
    return and_(jobs.c.video_id == videos.c.id, jobs.c.part == "")


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


async def _still_held(conn: AsyncConnection, lease: Lease, now: datetime) -> bool:
    """Whether ``lease`` still holds its job (touching it): the fence of every write of a
    lease holder that changes no state."""
    held = await conn.execute(
        sql_update(jobs)
        .where(held_by(lease, Transition.HEARTBEAT), jobs.c.lease_owner == lease.owner)
        .values(updated_at=now)
    )
    return bool(held.rowcount == 1)


async def lease_event(
    conn: AsyncConnection,
    lease: Lease,
    at: datetime,
    kind: str,
    status: JobStatus,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """A step of the lease holder's, in its job's timeline."""
    await write_event(
        conn,
        job_id=lease.job_id,
        video_id=lease.video_id,
        at=at,
        kind=kind,
        status=status,
        epoch=lease.epoch,
        worker=lease.owner,
        reason=reason,
        detail=detail,
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
            attempt = f"attempt {lease.attempts} of {lease.max_attempts}"
            spec = lease.spec
            if spec is None:  # a part leaves its video's status as its first parts made it
                await _set_video(conn, lease.video_id, JobStatus.PROCESSING, now)
            await lease_event(
                conn,
                lease,
                now,
                Transition.CLAIM,
                JobStatus.PROCESSING,
                attempt if spec is None else f"{spec.describe()}: {attempt}",
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
        oldest = oldest.order_by(jobs.c.rank, jobs.c.available_at, jobs.c.id).limit(1)
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
                jobs.c.part,
                jobs.c.parent_id,
            )
        )
        return (await conn.execute(taken)).mappings().first()

    @staticmethod
    async def _lease_of(conn: AsyncConnection, row: RowMapping, owner: str) -> Lease:
        source_key = await conn.scalar(
            select(videos.c.source_key).where(videos.c.id == row["video_id"])
        )
        plan, output_epoch = None, 0
        if row["parent_id"] is not None:
            parent = (
                await conn.execute(
                    select(jobs.c.plan, jobs.c.published_epoch).where(jobs.c.id == row["parent_id"])
                )
            ).one()
            plan, output_epoch = VideoPlan.from_json(parent.plan), parent.published_epoch
        return Lease(
            part=row["part"] or None,
            parent_id=row["parent_id"],
            plan=plan,
            output_epoch=output_epoch,
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
            .returning(jobs.c.id, jobs.c.video_id, jobs.c.epoch, jobs.c.attempts, jobs.c.parent_id)
        )
        for row in (await conn.execute(expired)).mappings().all():
            final = f"gave up after {row['attempts']} attempts: {reason}"
            if row["parent_id"] is not None:
                await _abandon(conn, row["parent_id"], row["id"], final, now)
            else:
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
            if not await _still_held(conn, lease, now):
                return False
            await lease_event(
                conn,
                lease,
                now,
                kind,
                JobStatus.PROCESSING,
                reason,
                detail=detail,
            )
        return True

    async def warn(self, lease: Lease, warnings: Sequence[str]) -> bool:
        """Fenced as ``record`` is, so a zombie's probe cannot put back what the current
        holder's cleared; an empty ``warnings`` clears them."""
        now = self._clock()
        async with transaction(self._engine) as conn:
            if not await _still_held(conn, lease, now):
                return False
            # Not _set_video: a warning changes what the owner is told, not the status.
            await conn.execute(
                sql_update(videos)
                .where(videos.c.id == lease.video_id)
                .values(warnings=list(warnings), updated_at=now)
            )
            await lease_event(
                conn, lease, now, WARNED, JobStatus.PROCESSING, warned_reason(warnings)
            )
        return True

    async def source_captions(self, lease: Lease, captions: Sequence[Caption]) -> bool:
        now = self._clock()
        async with transaction(self._engine) as conn:
            if not await _still_held(conn, lease, now):
                return False
            await replace_source_captions(conn, lease.video_id, captions, now)
        return True

    async def publish(
        self,
        lease: Lease,
        renditions: list[dict[str, Any]],
        duration: float,
        encoder: str,
        cover_time: float | None = None,
        receipt: dict[str, Any] | None = None,
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
            video_values={
                "renditions": renditions,
                "duration": duration,
                "error": None,
                "cover_time": cover_time,
                "receipt": receipt,
            },
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

    async def split(self, lease: Lease, plan: VideoPlan) -> bool:
        """The video's job becomes its parts: each queued as a job of its own, under the
        same rules, all writing under this lease's epoch."""
        now = self._clock()
        async with transaction(self._engine) as conn:
            result = await conn.execute(
                sql_update(jobs)
                .where(held_by(lease, Transition.SPLIT), jobs.c.lease_owner == lease.owner)
                .values(
                    status=next_status(JobStatus.PROCESSING, Transition.SPLIT),
                    plan=plan.to_json(),
                    published_epoch=lease.epoch,
                    lease_owner=None,
                    lease_expires_at=None,
                    progress=0.0,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return False
            await conn.execute(insert(jobs), [_part_row(lease, part, now) for part in plan.parts])
            await lease_event(
                conn,
                lease,
                now,
                Transition.SPLIT,
                JobStatus.SPLIT,
                describe_plan(plan),
            )
        return True

    async def publish_part(self, lease: Lease, output: PartOutput) -> bool:
        """A part's outputs become its video's: all of them, or (the audio, as it goes) the
        segments so far. The video is playable, or ready, as soon as its parts make it so.
        False: the lease was lost."""
        assert lease.parent_id is not None, "only a part is published in parts"
        now = self._clock()
        transition = Transition.PUBLISH if output.complete else Transition.HEARTBEAT
        async with transaction(self._engine) as conn:
            # Parts of one video publish one at a time: each sees the others' outcome.
            await conn.execute(
                sql_update(jobs).where(jobs.c.id == lease.parent_id).values(updated_at=now)
            )
            values: dict[str, Any] = {"outputs": output.to_json(), "updated_at": now}
            stored = await conn.scalar(select(jobs.c.outputs).where(jobs.c.id == lease.job_id))
            if not replaces(output, None if stored is None else PartOutput.from_json(stored)):
                del values["outputs"]
            if output.complete:
                values |= {
                    "status": next_status(JobStatus.PROCESSING, transition),
                    "published_epoch": lease.epoch,
                    "progress": 1.0,
                    "encoder": output.encoder,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error": None,
                }
            result = await conn.execute(
                sql_update(jobs)
                .where(held_by(lease, transition), jobs.c.lease_owner == lease.owner)
                .values(**values)
            )
            if result.rowcount != 1:
                return False
            if output.complete:
                await lease_event(
                    conn,
                    lease,
                    now,
                    transition,
                    JobStatus.READY,
                    f"published {lease.spec.describe() if lease.spec else lease.part}",
                )
            await _assemble(conn, lease.parent_id, now)
        return True

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
            if lease.parent_id is None:
                await _set_video(conn, lease.video_id, target, now, **(video_values or {}))
            elif target is JobStatus.FAILED:
                await _abandon(conn, lease.parent_id, lease.job_id, reason, now)
            await lease_event(
                conn,
                lease,
                now,
                transition,
                target,
                reason,
            )
        return True

    # --- everyone else's side --------------------------------------------------------------

    async def requeue(self, video_id: str) -> bool:
        now = self._clock()
        async with transaction(self._engine) as conn:
            if await _split_plan(conn, video_id) is not None:
                return await _resume(conn, video_id, now)
            return await _queue_whole(
                conn,
                video_id,
                JobStatus.FAILED,
                Transition.REQUEUE,
                "retry requested",
                now,
                lease_owner=None,
                lease_expires_at=None,
            )

    async def reencode(self, video_id: str, parts: Sequence[str], reason: str) -> int:
        now = self._clock()
        async with transaction(self._engine) as conn:
            if await _split_plan(conn, video_id) is not None:
                return await _reopen(conn, video_id, parts, reason, now)
            queued = await _queue_whole(
                conn, video_id, JobStatus.READY, Transition.REENCODE, reason, now, progress=0.0
            )
        return int(queued)

    async def in_flight(self, video_id: str) -> list[tuple[str, int]]:
        query = select(jobs.c.part, jobs.c.epoch).where(
            jobs.c.video_id == video_id, jobs.c.status == JobStatus.PROCESSING
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return sorted((part, epoch) for part, epoch in rows)

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
            .select_from(videos.outerjoin(jobs, own_job()))
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
            query = select(jobs).where(jobs.c.video_id == video_id, jobs.c.part == "")
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
        playable = select(func.count()).where(videos.c.status == VideoStatus.PLAYABLE)
        async with reading(self._engine) as conn:
            rows = (await conn.execute(by_status)).all()
            oldest = await conn.scalar(oldest_due)
            playing = await conn.scalar(playable)
        counts = dict.fromkeys(JobStatus, 0)
        for status, count in rows:
            counts[JobStatus(status)] = count
        return JobCounts(counts, oldest, playing or 0)


def _queued_before(available_at: datetime) -> Select[Any]:
    """Due jobs that claims take first: they take the oldest ``available_at`` first."""
    earlier = and_(
        jobs.c.status == JobStatus.QUEUED, jobs.c.available_at < available_at, jobs.c.part == ""
    )
    return select(func.count()).select_from(jobs).where(earlier)


async def _set_video(
    conn: AsyncConnection, video_id: str, status: JobStatus, now: datetime, **values: Any
) -> None:
    """The video's new status, and the webhook event it is, in the same transaction."""
    was = await conn.scalar(select(videos.c.status).where(videos.c.id == video_id))
    await conn.execute(
        sql_update(videos)
        .where(videos.c.id == video_id)
        .values(status=status.value, updated_at=now, **values)
    )
    await video_changed(conn, video_id, was, now)


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


# --- a split job's parts -----------------------------------------------------------------


def _part_row(lease: Lease, part: PartSpec, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "video_id": lease.video_id,
        "part": part.key,
        "parent_id": lease.job_id,
        "rank": part.rank,
        "status": JobStatus.QUEUED,
        "epoch": 0,
        "attempts": 0,
        "max_attempts": lease.max_attempts,
        "progress": 0.0,
        "available_at": now,
        "created_at": now,
        "updated_at": now,
        "trace_context": lease.trace_context,
    }


async def _assemble(conn: AsyncConnection, parent_id: str, now: datetime) -> None:
    """Bring the video up to date with its published parts: processing until its first
    chunks are in, then playable, then ready when every part is."""
    parent = (await conn.execute(select(jobs).where(jobs.c.id == parent_id))).mappings().one()
    if parent["status"] != JobStatus.SPLIT:
        return  # a part failed for good: the video failed with it
    plan = VideoPlan.from_json(parent["plan"])
    rows = await conn.execute(
        select(jobs.c.outputs).where(jobs.c.parent_id == parent_id, jobs.c.outputs.is_not(None))
    )
    outputs = {o.key: o for o in (PartOutput.from_json(r.outputs) for r in rows)}
    assembly = assemble(plan, outputs)
    change = progress_of(assembly, plan.duration)
    was = await conn.scalar(select(videos.c.status).where(videos.c.id == parent["video_id"]))
    values: dict[str, Any] = {"progress": assembly.done, "updated_at": now}
    if change.transition is not None:
        values["status"] = next_status(JobStatus.SPLIT, change.transition)
    await conn.execute(sql_update(jobs).where(jobs.c.id == parent_id).values(**values))
    await conn.execute(
        sql_update(videos)
        .where(videos.c.id == parent["video_id"])
        .values(status=change.video_status.value, updated_at=now, **change.video_values)
    )
    await video_changed(conn, parent["video_id"], was, now)
    if change.video_status.value != was and change.event is not None:
        await write_event(
            conn,
            job_id=parent_id,
            video_id=parent["video_id"],
            at=now,
            kind=change.event,
            status=JobStatus(values.get("status", JobStatus.SPLIT)),
            epoch=parent["epoch"],
            reason=change.reason,
        )


async def _abandon(
    conn: AsyncConnection, parent_id: str, failed_id: str, reason: str, now: datetime
) -> None:
    """One part failed for good: so do its video, its job and the parts still to do,
    whose holders find their leases gone at their next write."""
    part = await conn.scalar(select(jobs.c.part).where(jobs.c.id == failed_id))
    final = f"part {part} failed: {reason}"
    parent = (
        await conn.execute(
            sql_update(jobs)
            .where(jobs.c.id == parent_id, may_take(Transition.ABANDON))
            .values(
                status=next_status(JobStatus.SPLIT, Transition.ABANDON),
                last_error=final,
                updated_at=now,
            )
            .returning(jobs.c.video_id, jobs.c.epoch)
        )
    ).first()
    if parent is None:
        return  # another part's failure came first
    await conn.execute(
        sql_update(jobs)
        .where(
            jobs.c.parent_id == parent_id,
            jobs.c.id != failed_id,
            jobs.c.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING]),
        )
        .values(
            status=JobStatus.FAILED,
            last_error=f"stopped: {final}",
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    await _set_video(conn, parent.video_id, JobStatus.FAILED, now, error=final)
    await write_event(
        conn,
        job_id=parent_id,
        video_id=parent.video_id,
        at=now,
        kind=Transition.ABANDON,
        status=JobStatus.FAILED,
        epoch=parent.epoch,
        reason=final,
    )


async def _resume(conn: AsyncConnection, video_id: str, now: datetime) -> bool:
    """A failed split video: its failed parts get a fresh set of attempts; what its other
    parts published stays."""
    parent = (
        await conn.execute(
            sql_update(jobs)
            .where(jobs.c.video_id == video_id, jobs.c.part == "", may_take(Transition.RESUME))
            .values(
                status=next_status(JobStatus.FAILED, Transition.RESUME),
                last_error=None,
                updated_at=now,
            )
            .returning(jobs.c.id, jobs.c.epoch)
        )
    ).first()
    if parent is None:
        return False
    await conn.execute(
        sql_update(jobs)
        .where(jobs.c.parent_id == parent.id, jobs.c.status == JobStatus.FAILED)
        .values(status=JobStatus.QUEUED, attempts=0, available_at=now, updated_at=now)
    )
    await _set_video(conn, video_id, JobStatus.PROCESSING, now, error=None)
    await write_event(
        conn,
        job_id=parent.id,
        video_id=video_id,
        at=now,
        kind=Transition.RESUME,
        status=JobStatus.SPLIT,
        epoch=parent.epoch,
        reason="retry requested: the failed parts are queued again",
    )
    await _assemble(conn, parent.id, now)
    return True


async def _split_plan(conn: AsyncConnection, video_id: str) -> object:
    """The plan of a video's parts; None: it is encoded in one piece."""
    return await conn.scalar(
        select(jobs.c.plan).where(jobs.c.video_id == video_id, jobs.c.part == "")
    )


async def _queue_whole(
    conn: AsyncConnection,
    video_id: str,
    source: JobStatus,
    transition: Transition,
    reason: str,
    now: datetime,
    **values: object,
) -> bool:
    """A video encoded in one piece queued again, with fresh attempts, by ``transition``
    (from ``source``), and its event; ``values``: the columns that transition also sets."""
    target = next_status(source, transition)
    queued = (
        sql_update(jobs)
        .where(jobs.c.video_id == video_id, jobs.c.part == "", may_take(transition))
        .values(status=target, attempts=0, available_at=now, updated_at=now, **values)
        .returning(jobs.c.id, jobs.c.epoch)
    )
    row = (await conn.execute(queued)).mappings().first()
    if row is None:
        return False
    await _set_video(conn, video_id, target, now, error=None)
    await write_event(
        conn,
        job_id=row["id"],
        video_id=video_id,
        at=now,
        kind=transition,
        status=target,
        epoch=row["epoch"],
        reason=reason,
    )
    return True


async def _reopen(
    conn: AsyncConnection, video_id: str, parts: Sequence[str], reason: str, now: datetime
) -> int:
    """A ready split video: the published parts named (all, when none is) are queued
    again and no longer listed; the video plays from what the others published."""
    parent = (
        await conn.execute(
            select(jobs.c.id, jobs.c.epoch).where(
                jobs.c.video_id == video_id, jobs.c.part == "", may_take(Transition.REOPEN)
            )
        )
    ).first()
    if parent is None:
        return 0
    chosen = [jobs.c.parent_id == parent.id, jobs.c.status == JobStatus.READY]
    if parts:
        chosen.append(jobs.c.part.in_(list(parts)))
    queued = await conn.execute(
        sql_update(jobs)
        .where(*chosen)
        .values(
            status=next_status(JobStatus.READY, Transition.REENCODE),
            outputs=null(),  # SQL NULL, not JSON null: no longer listed
            attempts=0,
            progress=0.0,
            available_at=now,
            updated_at=now,
        )
    )
    if queued.rowcount == 0:
        return 0
    await conn.execute(
        sql_update(jobs)
        .where(jobs.c.id == parent.id)
        .values(status=next_status(JobStatus.READY, Transition.REOPEN), updated_at=now)
    )
    await write_event(
        conn,
        job_id=parent.id,
        video_id=video_id,
        at=now,
        kind=Transition.REOPEN,
        status=JobStatus.SPLIT,
        epoch=parent.epoch,
        reason=reason,
    )
    await _assemble(conn, parent.id, now)
    return int(queued.rowcount)
