"""The in-memory twins of the SQL stores: one ``MemoryDatabase`` of plain records, and the
four stores over it. Each method changes the records without awaiting in between, so it is
one transaction, as the SQL store's is. The transitions are guarded by the pure rules of
``domain.jobs``; the store contract suite runs these and the SQL stores alike.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import (
    Actor,
    ApiKey,
    User,
    Visibility,
    full_scopes,
    is_administrator,
)
from vodstack.domain.captions import Caption, CaptionOrigin
from vodstack.domain.chunks import PartOutput, VideoPlan, assemble, describe_plan, replaces
from vodstack.domain.direct_uploads import DirectUpload
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
    claimable,
    exhausted,
    next_status,
    progress_of,
    warned_reason,
)
from vodstack.domain.uploads import StoredPart, Upload, UploadStatus
from vodstack.domain.videos import Video, VideoChanges, VideoStatus
from vodstack.domain.webhooks import (
    ROTATION_GRACE,
    Attempt,
    DeliveryStatus,
    Endpoint,
    EventType,
    Outcome,
    WebhookDelivery,
    event_body,
    event_for,
)
from vodstack.ports import Stores


@dataclass
class _Job:
    id: str
    video_id: str
    max_attempts: int
    available_at: datetime
    updated_at: datetime
    trace_context: str | None
    status: JobStatus = JobStatus.QUEUED
    epoch: int = 0
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    progress: float = 0.0
    encoder: str | None = None
    published_epoch: int | None = None
    part: str = ""
    parent_id: str | None = None
    rank: int = 0
    plan: VideoPlan | None = None
    outputs: PartOutput | None = None

    @property
    def state(self) -> JobState:
        return JobState(
            self.status,
            self.epoch,
            self.attempts,
            self.max_attempts,
            self.lease_expires_at,
            self.available_at,
        )


@dataclass
class _Upload:
    upload: Upload
    created_at: datetime
    parts: list[StoredPart] = field(default_factory=list)


@dataclass
class _Delivery:
    delivery: WebhookDelivery
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None


@dataclass
class MemoryDatabase:
    """What the database holds, as records."""

    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, tuple[ApiKey, str]] = field(default_factory=dict)  # key id -> key, hash
    videos: dict[str, Video] = field(default_factory=dict)
    uploads: dict[str, _Upload] = field(default_factory=dict)
    jobs: dict[str, _Job] = field(default_factory=dict)  # by video id
    parts: dict[str, _Job] = field(default_factory=dict)  # a split job's parts, by job id
    events: list[tuple[str, JobEvent]] = field(default_factory=list)  # (video id, event)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    deliveries: dict[str, _Delivery] = field(default_factory=dict)  # in the order written
    direct_uploads: dict[str, DirectUpload] = field(default_factory=dict)
    captions: dict[str, Caption] = field(default_factory=dict)  # in the order added
    # requests counted, by (limit name, caller, minute since the epoch)
    rate_limits: dict[tuple[str, str, int], int] = field(default_factory=dict)
    workers: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # slots, alive until

    def event(self, job: _Job, at: datetime, kind: str, *, worker: str | None, reason: str) -> None:
        self.events.append(
            (
                job.video_id,
                JobEvent(at, str(kind), job.status.value, job.epoch, worker, reason, None),
            )
        )

    def parts_parent(self, part: _Job) -> _Job:
        return self.jobs[part.video_id]

    def parts_of(self, parent: _Job) -> list[_Job]:
        return [p for p in self.parts.values() if p.parent_id == parent.id]

    def set_video(self, video_id: str, now: datetime, **values: Any) -> None:
        """The video's new values, and the webhook event its new status is, if any."""
        video = self.videos.get(video_id)
        if video is None:
            return
        self.videos[video_id] = changed = dataclasses.replace(video, updated_at=now, **values)
        event = event_for(video.status, changed.status)
        if event is not None:
            self.emit(self.with_job(changed), event, now)

    def with_job(self, video: Video) -> Video:
        job = self.jobs.get(video.id)
        if job is None:
            return video
        return dataclasses.replace(
            video,
            progress=job.progress,
            published_epoch=job.published_epoch,
            chunked=job.plan is not None,
        )

    def emit(self, video: Video, event: EventType, now: datetime) -> None:
        """``db.webhooks.emit``'s twin: one outbox record per endpoint that wants it."""
        if video.owner_id is None:
            return
        body = json.dumps(event_body(event, video, now), separators=(",", ":"))
        for endpoint in list(self.endpoints.values()):
            if endpoint.owner_id == video.owner_id and endpoint.wants(event):
                delivery = WebhookDelivery(
                    "msg_" + uuid.uuid4().hex,
                    endpoint.id,
                    event.value,
                    body,
                    DeliveryStatus.PENDING,
                    0,
                    now,
                    now,
                )
                self.deliveries[delivery.id] = _Delivery(delivery)


def memory_stores(
    lease_seconds: float = 60.0, clock: Clock = utc_now, database: MemoryDatabase | None = None
) -> Stores:
    """Stores over ``database`` (a new, empty one by default)."""
    db = database or MemoryDatabase()
    return Stores(
        jobs=MemoryJobStore(db, lease_seconds, clock),
        uploads=MemoryUploadStore(db),
        videos=MemoryVideoStore(db),
        accounts=MemoryAccountStore(db),
        webhooks=MemoryWebhookStore(db),
        direct_uploads=MemoryDirectUploadStore(db),
        captions=MemoryCaptionStore(db),
        rate_limits=MemoryRateLimitStore(db),
        workers=MemoryWorkerRoster(db, clock),
    )


class MemoryJobStore:
    def __init__(self, db: MemoryDatabase, lease_seconds: float, clock: Clock = utc_now) -> None:
        self._db = db
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        now = self._clock()
        self._fail_exhausted(now)
        due = [
            job
            for job in (*self._db.jobs.values(), *self._db.parts.values())
            if claimable(job.state, now) and video_id in (None, job.video_id)
        ]
        if not due:
            return None
        job = min(due, key=lambda j: (j.rank, j.available_at, j.id))
        if job.status is JobStatus.PROCESSING and job.lease_expires_at is not None:
            job.available_at = job.lease_expires_at  # when it became due again
        job.status = next_status(job.status, Transition.CLAIM)
        job.epoch += 1
        job.attempts += 1
        job.lease_owner, job.lease_expires_at = owner, now + self._lease
        job.progress, job.updated_at = 0.0, now
        reason = f"attempt {job.attempts} of {job.max_attempts}"
        parent = None if job.parent_id is None else self._db.parts_parent(job)
        if parent is None:
            self._db.set_video(job.video_id, now, status=VideoStatus.PROCESSING)
        elif parent.plan is not None:
            reason = f"{parent.plan.part(job.part).describe()}: {reason}"
        self._db.event(job, now, Transition.CLAIM, worker=owner, reason=reason)
        return Lease(
            part=job.part or None,
            parent_id=job.parent_id,
            plan=None if parent is None else parent.plan,
            output_epoch=0 if parent is None else parent.published_epoch or 0,
            job_id=job.id,
            video_id=job.video_id,
            source_key=self._db.videos[job.video_id].source_key,
            epoch=job.epoch,
            owner=owner,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            due_since=job.available_at,
            trace_context=job.trace_context,
        )

    def _fail_exhausted(self, now: datetime) -> None:
        reason = "the worker stopped responding on every attempt"
        for job in (*self._db.jobs.values(), *self._db.parts.values()):
            if not exhausted(job.state, now):
                continue
            job.status = next_status(job.status, Transition.EXPIRE)
            job.lease_owner = job.lease_expires_at = None
            job.updated_at, job.last_error = now, reason
            final = f"gave up after {job.attempts} attempts: {reason}"
            if job.parent_id is not None:
                self._abandon(job, final, now)
            else:
                self._db.set_video(job.video_id, now, status=VideoStatus.FAILED, error=final)
            self._db.event(job, now, Transition.EXPIRE, worker=None, reason=final)

    def _held(self, lease: Lease, transition: Transition, owner: bool = False) -> _Job | None:
        job = self._db.jobs.get(lease.video_id) if lease.parent_id is None else None
        job = job or self._db.parts.get(lease.job_id)
        if job is None or job.id != lease.job_id or job.epoch != lease.epoch:
            return None
        if job.status not in allowed_from(transition):
            return None
        if owner and job.lease_owner != lease.owner:
            return None
        return job

    async def heartbeat(self, lease: Lease, progress: float) -> bool:
        job = self._held(lease, Transition.HEARTBEAT, owner=True)
        if job is None:
            return False
        now = self._clock()
        job.lease_expires_at, job.updated_at = now + self._lease, now
        job.progress = max(0.0, min(1.0, progress))
        return True

    async def record(
        self, lease: Lease, kind: str, reason: str, detail: dict[str, Any] | None = None
    ) -> bool:
        job = self._held(lease, Transition.HEARTBEAT, owner=True)
        if job is None:
            return False
        now = self._clock()
        job.updated_at = now
        event = JobEvent(now, kind, job.status.value, job.epoch, lease.owner, reason, detail)
        self._db.events.append((job.video_id, event))
        return True

    async def warn(self, lease: Lease, warnings: Sequence[str]) -> bool:
        job = self._held(lease, Transition.HEARTBEAT, owner=True)
        if job is None:
            return False
        now = self._clock()
        job.updated_at = now
        self._db.set_video(lease.video_id, now, warnings=tuple(warnings))
        reason = warned_reason(warnings)
        event = JobEvent(now, WARNED, job.status.value, job.epoch, lease.owner, reason, None)
        self._db.events.append((job.video_id, event))
        return True

    async def source_captions(self, lease: Lease, captions: Sequence[Caption]) -> bool:
        job = self._held(lease, Transition.HEARTBEAT, owner=True)
        if job is None:
            return False
        now = self._clock()
        job.updated_at = now
        kept = {
            k: c
            for k, c in self._db.captions.items()
            if c.video_id != lease.video_id or c.origin is not CaptionOrigin.SOURCE
        }
        self._db.captions = kept | {c.id: c for c in captions}
        self._db.set_video(lease.video_id, now)
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
        job = self._finish(
            lease,
            Transition.PUBLISH,
            f"published epoch {lease.epoch} with {len(renditions)} renditions",
            renditions=renditions,
            duration=duration,
            error=None,
            cover_time=cover_time,
            receipt=receipt,
        )
        if job is None:
            return False
        job.published_epoch, job.progress, job.encoder = lease.epoch, 1.0, encoder
        job.last_error = None
        return True

    async def fail(self, lease: Lease, reason: str) -> bool:
        job = self._finish(lease, Transition.FAIL, reason, error=reason)
        if job is not None:
            job.last_error = reason
        return job is not None

    async def retry_or_fail(self, lease: Lease, reason: str) -> JobStatus | None:
        if after_error(lease.attempts, lease.max_attempts, retryable=True) is Transition.FAIL:
            final = f"gave up after {lease.attempts} attempts: {reason}"
            job = self._finish(lease, Transition.FAIL, final, error=final)
            if job is None:
                return None
            job.last_error = final
            return JobStatus.FAILED
        wait = backoff(lease.attempts)
        retrying = f"{reason}; retrying in {wait.total_seconds():.0f} s"
        job = self._finish(lease, Transition.RETRY, retrying)
        if job is None:
            return None
        job.last_error, job.available_at = reason, self._clock() + wait
        return JobStatus.QUEUED

    async def release(self, lease: Lease, reason: str = "worker shutting down") -> bool:
        job = self._finish(lease, Transition.RELEASE, reason)
        if job is not None:
            job.attempts -= 1
            job.available_at = self._clock()
        return job is not None

    def _finish(
        self, lease: Lease, transition: Transition, reason: str, **video_values: Any
    ) -> _Job | None:
        job = self._held(lease, transition)
        if job is None:
            return None
        now = self._clock()
        job.status = next_status(job.status, transition)
        job.lease_owner = job.lease_expires_at = None
        job.updated_at = now
        if job.parent_id is None:
            self._db.set_video(job.video_id, now, status=VideoStatus(job.status), **video_values)
        elif job.status is JobStatus.FAILED:
            self._abandon(job, reason, now)
        self._db.event(job, now, transition, worker=lease.owner, reason=reason)
        return job

    async def split(self, lease: Lease, plan: VideoPlan) -> bool:
        job = self._held(lease, Transition.SPLIT, owner=True)
        if job is None:
            return False
        now = self._clock()
        job.status = next_status(job.status, Transition.SPLIT)
        job.plan, job.published_epoch, job.progress = plan, lease.epoch, 0.0
        job.lease_owner = job.lease_expires_at = None
        job.updated_at = now
        for spec in plan.parts:
            part = _Job(uuid.uuid4().hex, job.video_id, job.max_attempts, now, now, None)
            part.part, part.parent_id, part.rank = spec.key, job.id, spec.rank
            part.trace_context = job.trace_context
            self._db.parts[part.id] = part
        self._db.event(job, now, Transition.SPLIT, worker=lease.owner, reason=describe_plan(plan))
        return True

    async def publish_part(self, lease: Lease, output: PartOutput) -> bool:
        transition = Transition.PUBLISH if output.complete else Transition.HEARTBEAT
        job = self._held(lease, transition, owner=True)
        if job is None:
            return False
        now = self._clock()
        if replaces(output, job.outputs):
            job.outputs = output
        job.updated_at = now
        if output.complete:
            job.status = next_status(job.status, transition)
            job.published_epoch, job.progress, job.encoder = lease.epoch, 1.0, output.encoder
            job.lease_owner = job.lease_expires_at = job.last_error = None
            spec = lease.spec
            reason = f"published {spec.describe() if spec else job.part}"
            self._db.event(job, now, transition, worker=lease.owner, reason=reason)
        self._assemble(self._db.parts_parent(job), now)
        return True

    def _assemble(self, parent: _Job, now: datetime) -> None:
        if parent.status is not JobStatus.SPLIT or parent.plan is None:
            return
        outputs = {
            o.key: o for o in (p.outputs for p in self._db.parts_of(parent)) if o is not None
        }
        assembly = assemble(parent.plan, outputs)
        change = progress_of(assembly, parent.plan.duration)
        parent.progress = assembly.done
        parent.updated_at = now
        if change.transition is not None:
            parent.status = next_status(parent.status, change.transition)
        was = self._db.videos[parent.video_id].status
        self._db.set_video(parent.video_id, now, status=change.video_status, **change.video_values)
        if change.video_status is not was and change.event is not None:
            self._db.event(parent, now, change.event, worker=None, reason=change.reason)

    def _abandon(self, failed: _Job, reason: str, now: datetime) -> None:
        parent = self._db.parts_parent(failed)
        if parent.status not in allowed_from(Transition.ABANDON):
            return
        final = f"part {failed.part} failed: {reason}"
        parent.status = next_status(parent.status, Transition.ABANDON)
        parent.last_error, parent.updated_at = final, now
        for part in self._db.parts_of(parent):
            if part is not failed and part.status in (JobStatus.QUEUED, JobStatus.PROCESSING):
                part.status, part.last_error = JobStatus.FAILED, f"stopped: {final}"
                part.lease_owner = part.lease_expires_at = None
                part.updated_at = now
        self._db.set_video(parent.video_id, now, status=VideoStatus.FAILED, error=final)
        self._db.event(parent, now, Transition.ABANDON, worker=None, reason=final)

    def _resume(self, parent: _Job, now: datetime) -> None:
        parent.status = next_status(parent.status, Transition.RESUME)
        parent.last_error, parent.updated_at = None, now
        for part in self._db.parts_of(parent):
            if part.status is JobStatus.FAILED:
                part.status, part.attempts = JobStatus.QUEUED, 0
                part.available_at = part.updated_at = now
        self._db.set_video(parent.video_id, now, status=VideoStatus.PROCESSING, error=None)
        reason = "retry requested: the failed parts are queued again"
        self._db.event(parent, now, Transition.RESUME, worker=None, reason=reason)
        self._assemble(parent, now)

    async def requeue(self, video_id: str) -> bool:
        job = self._db.jobs.get(video_id)
        if job is None or job.status not in allowed_from(Transition.REQUEUE):
            return False
        now = self._clock()
        if job.plan is not None:
            self._resume(job, now)
            return True
        job.status = next_status(job.status, Transition.REQUEUE)
        job.attempts, job.available_at, job.updated_at = 0, now, now
        job.lease_owner = job.lease_expires_at = None
        self._db.set_video(video_id, now, status=VideoStatus(job.status), error=None)
        self._db.event(job, now, Transition.REQUEUE, worker=None, reason="retry requested")
        return True

    async def reencode(self, video_id: str, parts: Sequence[str], reason: str) -> int:
        job = self._db.jobs.get(video_id)
        if job is None or job.status not in allowed_from(Transition.REENCODE):
            return 0
        now = self._clock()
        if job.plan is not None:
            return self._reopen(job, parts, reason, now)
        job.status = next_status(job.status, Transition.REENCODE)
        job.attempts, job.progress, job.available_at, job.updated_at = 0, 0.0, now, now
        self._db.set_video(video_id, now, status=VideoStatus(job.status), error=None)
        self._db.event(job, now, Transition.REENCODE, worker=None, reason=reason)
        return 1

    def _reopen(self, parent: _Job, parts: Sequence[str], reason: str, now: datetime) -> int:
        chosen = [
            p
            for p in self._db.parts_of(parent)
            if p.status is JobStatus.READY and (not parts or p.part in parts)
        ]
        if not chosen:
            return 0
        for part in chosen:
            part.status = next_status(part.status, Transition.REENCODE)
            part.outputs, part.attempts, part.progress = None, 0, 0.0
            part.available_at = part.updated_at = now
        parent.status = next_status(parent.status, Transition.REOPEN)
        parent.updated_at = now
        self._db.event(parent, now, Transition.REOPEN, worker=None, reason=reason)
        self._assemble(parent, now)
        return len(chosen)

    async def in_flight(self, video_id: str) -> list[tuple[str, int]]:
        jobs = [j for j in (self._db.jobs.get(video_id),) if j is not None]
        jobs += [p for p in self._db.parts.values() if p.video_id == video_id]
        return sorted((j.part or "", j.epoch) for j in jobs if j.status is JobStatus.PROCESSING)

    async def events(self, video_id: str) -> list[JobEvent]:
        return [event for owner, event in self._db.events if owner == video_id]

    async def state_of(self, video_id: str) -> tuple[bool, JobState | None]:
        job = self._db.jobs.get(video_id)
        return video_id in self._db.videos, None if job is None else job.state

    async def view(self, video_id: str) -> JobView | None:
        job = self._db.jobs.get(video_id)
        if job is None:
            return None
        ahead = 0
        if job.status is JobStatus.QUEUED and job.available_at <= self._clock():
            ahead = sum(
                1
                for other in self._db.jobs.values()
                if other.status is JobStatus.QUEUED and other.available_at < job.available_at
            )
        return JobView(
            state=job.state,
            worker=job.lease_owner,
            progress=job.progress,
            last_error=job.last_error,
            updated_at=job.updated_at,
            ahead=ahead,
            published_epoch=job.published_epoch,
            encoder=job.encoder,
        )

    async def counts(self) -> JobCounts:
        now = self._clock()
        by_status = dict.fromkeys(JobStatus, 0)
        for job in (*self._db.jobs.values(), *self._db.parts.values()):
            by_status[job.status] += 1
        due = [
            job.available_at
            for job in self._db.jobs.values()
            if job.status is JobStatus.QUEUED
            and job.available_at <= now
            and job.attempts < job.max_attempts
        ]
        playable = sum(v.status is VideoStatus.PLAYABLE for v in self._db.videos.values())
        return JobCounts(by_status, min(due, default=None), playable)


class MemoryUploadStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create(self, video: Video, upload: Upload) -> None:
        taken = video.id in self._db.videos or upload.id in self._db.uploads
        unknown_owner = video.owner_id is not None and video.owner_id not in self._db.users
        if taken or unknown_owner:  # a key or a foreign key, as the database checks them
            raise errors.Conflict("the change conflicts with what is stored")
        self._db.videos[video.id] = video
        self._db.uploads[upload.id] = _Upload(upload, video.created_at)

    async def get(self, upload_id: str) -> Upload | None:
        found = self._db.uploads.get(upload_id)
        return None if found is None else found.upload

    async def active_before(self, cutoff: datetime, limit: int = 100) -> list[Upload]:
        old = [
            u
            for u in self._db.uploads.values()
            if u.upload.status is UploadStatus.ACTIVE and u.created_at < cutoff
        ]
        return [u.upload for u in sorted(old, key=lambda u: u.created_at)[:limit]]

    async def completed_parts(self, upload_id: str) -> list[StoredPart]:
        found = self._db.uploads.get(upload_id)
        return [] if found is None else sorted(found.parts, key=lambda p: p.part_number)

    async def complete(
        self,
        upload: Upload,
        parts: Sequence[StoredPart],
        max_attempts: int,
        now: datetime,
        trace_context: str | None = None,
    ) -> bool:
        stored = self._db.uploads.get(upload.id)
        if stored is None or stored.upload.status is not UploadStatus.ACTIVE:
            return False
        if upload.video_id is None:
            return False
        stored.upload = dataclasses.replace(stored.upload, status=UploadStatus.COMPLETED)
        stored.parts = list(parts)
        video = self._db.videos.get(upload.video_id)
        if video is not None and video.status is VideoStatus.UPLOADING:
            self._db.set_video(upload.video_id, now, status=VideoStatus.QUEUED)
        job = _Job(uuid.uuid4().hex, upload.video_id, max_attempts, now, now, trace_context)
        self._db.jobs[upload.video_id] = job
        self._db.event(job, now, "queued", worker=None, reason="upload completed")
        return True

    async def abort(self, upload: Upload, now: datetime) -> bool:
        stored = self._db.uploads.get(upload.id)
        if stored is None or stored.upload.status is not UploadStatus.ACTIVE:
            return False
        stored.upload = dataclasses.replace(
            stored.upload, status=UploadStatus.ABORTED, video_id=None
        )
        if upload.video_id is not None:
            self._db.videos.pop(upload.video_id, None)
        return True


class MemoryVideoStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def get(self, video_id: str) -> Video | None:
        video = self._db.videos.get(video_id)
        return None if video is None else self._with_job(video)

    async def ready_after(self, after: str, limit: int = 100) -> list[Video]:
        chosen = sorted(
            (v for v in self._db.videos.values() if v.status is VideoStatus.READY and v.id > after),
            key=lambda v: v.id,
        )
        return [self._with_job(v) for v in chosen[:limit]]

    async def list(self, actor: Actor, limit: int = 100) -> list[Video]:
        def listed(video: Video) -> bool:
            if is_administrator(actor):
                return True
            if isinstance(actor, User):
                return video.owner_id == actor.id
            # Anyone else: the public videos that play.
            return video.visibility is Visibility.PUBLIC and video.status in (
                VideoStatus.PLAYABLE,
                VideoStatus.READY,
            )

        chosen = sorted(
            (v for v in self._db.videos.values() if listed(v)),
            key=lambda v: (-v.created_at.timestamp(), v.id),
        )
        return [self._with_job(v) for v in chosen[:limit]]

    async def update(self, video_id: str, changes: VideoChanges, now: datetime) -> None:
        values = {
            name: value for name, value in dataclasses.asdict(changes).items() if value is not None
        }
        self._db.set_video(video_id, now, **values)

    async def delete(self, video_id: str, now: datetime) -> None:
        video = self._db.videos.get(video_id)
        if video is not None:
            self._db.emit(self._with_job(video), EventType.DELETED, now)
        self._db.events = [(v, e) for v, e in self._db.events if v != video_id]
        job = self._db.jobs.pop(video_id, None)
        if job is not None:
            for part in self._db.parts_of(job):
                del self._db.parts[part.id]
        for stored in self._db.uploads.values():
            if stored.upload.video_id == video_id:
                stored.upload = dataclasses.replace(stored.upload, video_id=None)
        self._db.videos.pop(video_id, None)
        self._db.captions = {k: c for k, c in self._db.captions.items() if c.video_id != video_id}

    def _with_job(self, video: Video) -> Video:
        return self._db.with_job(video)

    async def parts(self, video_id: str) -> tuple[VideoPlan, dict[str, PartOutput]] | None:
        job = self._db.jobs.get(video_id)
        if job is None or job.plan is None:
            return None
        outputs = [p.outputs for p in self._db.parts_of(job) if p.outputs is not None]
        return job.plan, {o.key: o for o in outputs}


class MemoryAccountStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create_user(self, user: User, key_id: str, secret_hash: str, now: datetime) -> None:
        if any(u.name == user.name for u in self._db.users.values()) or key_id in self._db.keys:
            raise errors.Conflict(f"a user named {user.name!r} already exists")
        self._db.users[user.id] = user
        key = ApiKey(key_id, user.id, "default", full_scopes(user.is_admin), now)
        self._db.keys[key_id] = (key, secret_hash)

    async def key(self, key_id: str) -> tuple[User, ApiKey, str] | None:
        found = self._db.keys.get(key_id)
        if found is None:
            return None
        key, secret_hash = found
        return self._db.users[key.user_id], key, secret_hash

    async def add_key(self, key: ApiKey, secret_hash: str) -> None:
        if key.id in self._db.keys:
            raise errors.Conflict("that key id is taken")
        self._db.keys[key.id] = (key, secret_hash)

    async def keys(self, user_id: str) -> list[ApiKey]:
        found = [k for k, _ in self._db.keys.values() if k.user_id == user_id]
        return sorted(
            (k for k in found if k.revoked_at is None), key=lambda k: (k.created_at, k.id)
        )

    async def revoke_key(self, key_id: str, user_id: str | None, now: datetime) -> bool:
        found = self._db.keys.get(key_id)
        if found is None or found[0].revoked_at is not None:
            return False
        key, secret_hash = found
        if user_id is not None and key.user_id != user_id:
            return False
        self._db.keys[key_id] = (dataclasses.replace(key, revoked_at=now), secret_hash)
        return True

    async def touch_key(self, key_id: str, now: datetime) -> None:
        found = self._db.keys.get(key_id)
        if found is not None:
            self._db.keys[key_id] = (dataclasses.replace(found[0], last_used_at=now), found[1])

    async def users(self) -> list[User]:
        return sorted(self._db.users.values(), key=lambda u: u.name)

    async def count(self) -> int:
        return len(self._db.users)


class MemoryWebhookStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create(self, endpoint: Endpoint) -> None:
        self._db.endpoints[endpoint.id] = endpoint

    async def endpoints(self, owner_id: str) -> list[Endpoint]:
        owned = [e for e in self._db.endpoints.values() if e.owner_id == owner_id]
        return sorted(owned, key=lambda e: (e.created_at, e.id))

    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        return self._db.endpoints.get(endpoint_id)

    async def remove(self, endpoint_id: str) -> bool:
        if self._db.endpoints.pop(endpoint_id, None) is None:
            return False
        self._db.deliveries = {
            k: d for k, d in self._db.deliveries.items() if d.delivery.endpoint_id != endpoint_id
        }
        return True

    async def rotate(self, endpoint_id: str, secret: str, now: datetime) -> Endpoint | None:
        endpoint = self._db.endpoints.get(endpoint_id)
        if endpoint is None:
            return None
        rotated = dataclasses.replace(
            endpoint,
            secret=secret,
            old_secret=endpoint.secret,
            old_secret_until=now + ROTATION_GRACE,
        )
        self._db.endpoints[endpoint_id] = rotated
        return rotated

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[WebhookDelivery]:
        owned = [
            d.delivery
            for d in self._db.deliveries.values()
            if d.delivery.endpoint_id == endpoint_id
        ]
        return sorted(owned, key=lambda d: (-d.created_at.timestamp(), d.id))[:limit]

    async def redeliver(self, endpoint_id: str, delivery_id: str, now: datetime) -> bool:
        found = self._db.deliveries.get(delivery_id)
        if found is None or found.delivery.endpoint_id != endpoint_id:
            return False
        found.delivery = dataclasses.replace(
            found.delivery, status=DeliveryStatus.PENDING, next_at=now
        )
        found.lease_owner = found.lease_expires_at = None
        return True

    async def prune(self, before: datetime) -> int:
        doomed = [
            key
            for key, d in self._db.deliveries.items()
            if d.delivery.created_at < before and d.delivery.status is not DeliveryStatus.PENDING
        ]
        for key in doomed:
            del self._db.deliveries[key]
        return len(doomed)

    async def claim(
        self, owner: str, now: datetime, lease_seconds: float
    ) -> tuple[WebhookDelivery, Endpoint] | None:
        def due(d: _Delivery) -> bool:
            return (
                d.delivery.status is DeliveryStatus.PENDING
                and d.delivery.next_at <= now
                and (d.lease_expires_at is None or d.lease_expires_at < now)
            )

        waiting = [d for d in self._db.deliveries.values() if due(d)]
        if not waiting:
            return None
        taken = min(waiting, key=lambda d: (d.delivery.next_at, d.delivery.id))
        taken.lease_owner = owner
        taken.lease_expires_at = now + timedelta(seconds=lease_seconds)
        endpoint = self._db.endpoints[taken.delivery.endpoint_id]
        return dataclasses.replace(taken.delivery, history=()), endpoint

    async def settle(
        self, delivery: WebhookDelivery, owner: str, attempt: Attempt, outcome: Outcome
    ) -> bool:
        found = self._db.deliveries.get(delivery.id)
        if found is None or found.lease_owner != owner:
            return False
        was = found.delivery
        found.delivery = dataclasses.replace(
            was,
            status=outcome.status,
            attempts=was.attempts + 1,
            next_at=outcome.next_at or attempt.at,
            history=(*was.history, attempt),
        )
        found.lease_owner = found.lease_expires_at = None
        endpoint = self._db.endpoints.get(was.endpoint_id)
        if outcome.disable_endpoint and endpoint is not None:
            self._db.endpoints[endpoint.id] = dataclasses.replace(endpoint, enabled=False)
        return True


class MemoryDirectUploadStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create(self, direct: DirectUpload) -> None:
        if direct.id in self._db.direct_uploads:
            raise errors.Conflict(f"direct upload {direct.id!r} exists")
        self._db.direct_uploads[direct.id] = direct

    async def get(self, direct_id: str) -> DirectUpload | None:
        return self._db.direct_uploads.get(direct_id)

    async def claim(self, direct_id: str, upload_id: str, video_id: str) -> bool:
        direct = self._db.direct_uploads.get(direct_id)
        if direct is None or direct.upload_id is not None:
            return False
        self._db.direct_uploads[direct_id] = dataclasses.replace(
            direct, upload_id=upload_id, video_id=video_id
        )
        return True

    async def finish(self, direct_id: str, now: datetime) -> bool:
        direct = self._db.direct_uploads.get(direct_id)
        if direct is None or direct.used_at is not None:
            return False
        self._db.direct_uploads[direct_id] = dataclasses.replace(direct, used_at=now)
        return True


class MemoryCaptionStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def add(self, caption: Caption) -> bool:
        if caption.video_id not in self._db.videos:
            return False
        if caption.id in self._db.captions:
            raise errors.Conflict("the change conflicts with what is stored")
        self._db.captions[caption.id] = caption
        self._db.set_video(caption.video_id, caption.created_at)
        return True

    async def list(self, video_id: str) -> list[Caption]:
        found = [c for c in self._db.captions.values() if c.video_id == video_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    async def remove(self, video_id: str, caption_id: str, now: datetime) -> bool:
        caption = self._db.captions.get(caption_id)
        if caption is None or caption.video_id != video_id:
            return False
        del self._db.captions[caption_id]
        self._db.set_video(video_id, now)
        return True


class MemoryRateLimitStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._pruned = -1  # as the SQL store: old minutes go once a minute per process

    async def counted(self, name: str, caller: str, minute: int) -> int:
        return self._db.rate_limits.get((name, caller, minute), 0)

    async def take(self, name: str, caller: str, minute: int, most: int) -> int | None:
        if minute > self._pruned:
            self._pruned = minute
            for key in [k for k in self._db.rate_limits if k[2] < minute - 1]:
                del self._db.rate_limits[key]
        key = (name, caller, minute)
        count = self._db.rate_limits.get(key, 0)
        if count >= most:
            return None
        self._db.rate_limits[key] = count + 1
        return count + 1


class MemoryWorkerRoster:
    def __init__(self, db: MemoryDatabase, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def enroll(self, worker: str, slots: int, alive_seconds: float) -> None:
        now = self._clock()
        for name in [n for n, (_, until) in self._db.workers.items() if until < now]:
            del self._db.workers[name]
        self._db.workers[worker] = (slots, now + timedelta(seconds=alive_seconds))

    async def withdraw(self, worker: str) -> None:
        self._db.workers.pop(worker, None)

    async def live_slots(self) -> int:
        now = self._clock()
        return sum(slots for slots, until in self._db.workers.values() if until >= now)
