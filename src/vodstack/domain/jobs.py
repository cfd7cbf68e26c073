"""The job lease state machine: pure, no I/O. The job store guards every UPDATE with the
same rules (``WHERE status IN allowed_from(...) AND epoch = ...``), so each transition is
checked twice: here, and by the database at the moment it happens."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from vodstack.domain.chunks import Assembly, PartSpec, VideoPlan
from vodstack.domain.videos import VideoStatus


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SPLIT = "split"  # cut into parts, which are jobs of their own: waits for them all
    READY = "ready"
    FAILED = "failed"


class Transition(StrEnum):
    CLAIM = "claimed"  # a worker takes a queued job, or one whose lease expired
    HEARTBEAT = "heartbeat"  # the lease holder extends its lease
    PUBLISH = "ready"  # the lease holder's outputs become the video's
    FAIL = "failed"  # the input is unusable, or attempts are spent
    RETRY = "retry"  # a transient error: back to the queue after a backoff
    RELEASE = "released"  # the worker shuts down: back to the queue at once
    EXPIRE = "expired"  # a lease ran out with no attempts left
    REQUEUE = "requeued"  # a person asks to try a failed video again
    SPLIT = "split"  # the probed video is cut into parts that any worker may lease
    ASSEMBLE = "assembled"  # the last of a split job's parts is published
    ABANDON = "abandoned"  # one of a split job's parts failed for good
    RESUME = "resumed"  # a person asks to try a failed split video's failed parts again
    REENCODE = "reencoded"  # storage lost files a ready video needs: encode it again
    REOPEN = "reopened"  # the same for a split video: the parts that made those files


_RULES: dict[Transition, tuple[frozenset[JobStatus], JobStatus]] = {
    Transition.CLAIM: (frozenset({JobStatus.QUEUED, JobStatus.PROCESSING}), JobStatus.PROCESSING),
    Transition.HEARTBEAT: (frozenset({JobStatus.PROCESSING}), JobStatus.PROCESSING),
    Transition.PUBLISH: (frozenset({JobStatus.PROCESSING}), JobStatus.READY),
    Transition.FAIL: (frozenset({JobStatus.PROCESSING}), JobStatus.FAILED),
    Transition.RETRY: (frozenset({JobStatus.PROCESSING}), JobStatus.QUEUED),
    Transition.RELEASE: (frozenset({JobStatus.PROCESSING}), JobStatus.QUEUED),
    Transition.EXPIRE: (frozenset({JobStatus.PROCESSING}), JobStatus.FAILED),
    Transition.REQUEUE: (frozenset({JobStatus.FAILED}), JobStatus.QUEUED),
    Transition.SPLIT: (frozenset({JobStatus.PROCESSING}), JobStatus.SPLIT),
    Transition.ASSEMBLE: (frozenset({JobStatus.SPLIT}), JobStatus.READY),
    Transition.ABANDON: (frozenset({JobStatus.SPLIT}), JobStatus.FAILED),
    Transition.RESUME: (frozenset({JobStatus.FAILED}), JobStatus.SPLIT),
    Transition.REENCODE: (frozenset({JobStatus.READY}), JobStatus.QUEUED),
    Transition.REOPEN: (frozenset({JobStatus.READY}), JobStatus.SPLIT),
}


class IllegalTransition(Exception):
    pass


def allowed_from(transition: Transition) -> frozenset[JobStatus]:
    return _RULES[transition][0]


def next_status(status: JobStatus, transition: Transition) -> JobStatus:
    sources, target = _RULES[transition]
    if status not in sources:
        raise IllegalTransition(f"cannot go from {status} by {transition}")
    return target


@dataclass(frozen=True, slots=True)
class JobState:
    """The fields of a job that decide what may happen to it."""

    status: JobStatus
    epoch: int
    attempts: int
    max_attempts: int
    lease_expires_at: datetime | None
    available_at: datetime


def claimable(job: JobState, now: datetime) -> bool:
    """Queued and due, or processing under a lease that ran out, with attempts left."""
    if job.attempts >= job.max_attempts:
        return False
    if job.status is JobStatus.QUEUED:
        return job.available_at <= now
    if job.status is JobStatus.PROCESSING:
        return job.lease_expires_at is not None and job.lease_expires_at < now
    return False


def exhausted(job: JobState, now: datetime) -> bool:
    """A lease ran out and no attempt is left: the job fails instead of staying stuck."""
    return (
        job.status is JobStatus.PROCESSING
        and job.lease_expires_at is not None
        and job.lease_expires_at < now
        and job.attempts >= job.max_attempts
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
    # A part of a split video: its key in the plan, its video's job, and the plan.
    part: str | None = None
    parent_id: str | None = None
    plan: VideoPlan | None = None
    output_epoch: int = 0  # the split job's epoch: where every part writes

    @property
    def spec(self) -> PartSpec | None:
        """The part this lease is for; None for a video's own job."""
        if self.part is None or self.plan is None:
            return None
        return self.plan.part(self.part)


class LeaseLost(Exception):
    """Another worker owns the job now (or may, any moment): this one must stop and touch
    nothing. ``reason`` says how the holder found out."""

    def __init__(self, reason: str = "the lease was taken over") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One step of a job's timeline."""

    at: datetime
    kind: str
    status: str
    epoch: int
    worker: str | None
    reason: str | None
    detail: dict[str, Any] | None


# The timeline event of a holder that told the owner what its probe found.
WARNED = "warned"


def warned_reason(warnings: Sequence[str]) -> str:
    """The ``warned`` event's reason: every warning, or that none is left."""
    return "; ".join(warnings) if warnings else "no warnings"


@dataclass(frozen=True, slots=True)
class JobCounts:
    """How many jobs are in each state, and since when the oldest due job has waited."""

    by_status: dict[JobStatus, int]  # every job: a video's own, and its parts
    oldest_due_since: datetime | None
    playable_videos: int = 0


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as a person asks about it: where it stands, who has it, and how far it got."""

    state: JobState
    worker: str | None
    progress: float
    last_error: str | None
    updated_at: datetime  # every heartbeat moves it
    ahead: int = 0  # due jobs that were queued before this one
    published_epoch: int | None = None
    encoder: str | None = None


def explain(job: JobView, now: datetime) -> str:
    """One sentence that answers "why is my video not ready yet?"."""
    state = job.state
    attempt = f"attempt {min(state.attempts + 1, state.max_attempts)} of {state.max_attempts}"
    if state.status is JobStatus.READY:
        return "ready"
    if state.status is JobStatus.SPLIT:
        return f"encoding in parts on every free worker, {round(job.progress * 100)}% done"
    if state.status is JobStatus.FAILED:
        tries = f"{state.attempts} attempt{'s' if state.attempts != 1 else ''}"
        return f"failed after {tries}: {job.last_error or 'no reason was recorded'}"
    if state.status is JobStatus.QUEUED:
        if state.available_at > now:
            after = f" after: {job.last_error}" if job.last_error else ""
            return f"{attempt} starts in {_span(state.available_at - now)}{after}"
        ahead = (
            f", behind {job.ahead} other video{'s' if job.ahead != 1 else ''}" if job.ahead else ""
        )
        return (
            f"waiting {_span(now - state.available_at)} for a free worker{ahead} ({attempt}); "
            "if this lasts, check that a worker is running"
        )
    worker = job.worker or "a worker"
    heard = _span(now - job.updated_at)
    if state.lease_expires_at is not None and state.lease_expires_at < now:
        gone = f"{worker} stopped renewing its lease {_span(now - state.lease_expires_at)} ago"
        if state.attempts >= state.max_attempts:
            return f"{gone}; no attempt is left, so the job will be marked failed"
        return f"{gone}; the next free worker takes the job over"
    done = f"{round(job.progress * 100)}% done"
    running = f"{worker} is on attempt {state.attempts} of {state.max_attempts}"
    return f"{running}, {done}, last heard {heard} ago"


def _span(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def after_error(attempts: int, max_attempts: int, retryable: bool) -> Transition:
    """An input error fails at once; anything else retries until the attempts are spent."""
    return Transition.RETRY if retryable and attempts < max_attempts else Transition.FAIL


def backoff(attempts: int, base: float = 5.0, cap: float = 300.0) -> timedelta:
    """5 s, 10 s, 20 s, ... up to 5 minutes: transient faults get time to clear."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class Outcome(StrEnum):
    """How one attempt ended, as recorded in the database."""

    PUBLISHED = "published"
    FAILED = "failed"  # unusable input: no retry
    GAVE_UP = "gave_up"  # attempts spent on transient errors
    RETRYING = "retrying"  # back in the queue after a backoff
    RELEASED = "released"  # handed back by a shutdown
    SPLIT = "split"  # cut into parts, which are now queued as jobs of their own
    LOST = "lost"  # another worker owns the job now; this one recorded nothing


@dataclass(frozen=True, slots=True)
class Settled:
    outcome: Outcome
    retry_in: float = 0.0
    parts: int = 0  # SPLIT: how many parts were queued


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """What to do with a queue message whose job this worker could not claim: delete it,
    or let it come back after ``delay`` seconds."""

    delete: bool
    delay: float = 0.0
    why: str = ""


# A message that is about to come back while a lease is still live waits this much longer,
# so that it arrives after the lease ran out rather than just before.
LEASE_MARGIN_SECONDS = 2.0
# An upload being completed: its object exists (S3 sent the event) before its job does.
PENDING_UPLOAD_SECONDS = 5.0


def message_verdict(video_exists: bool, job: JobState | None, now: datetime) -> MessageVerdict:
    if job is None:
        if video_exists:
            return MessageVerdict(False, PENDING_UPLOAD_SECONDS, "the upload is being completed")
        return MessageVerdict(True, why="no such video (deleted, aborted, or not ours)")
    if job.status in (JobStatus.READY, JobStatus.FAILED):
        return MessageVerdict(True, why=f"the job is already {job.status}")
    if job.status is JobStatus.SPLIT:
        # No part of it was due: each is held (its holder's message comes back if the holder
        # dies), waits out a backoff (its message comes back then), or is done. This message
        # is one too many, left by a part that a sweep claimed.
        return MessageVerdict(True, why="every part of it is taken or done")
    if job.attempts >= job.max_attempts and job.status is JobStatus.QUEUED:
        return MessageVerdict(True, why="no attempts left")
    if job.status is JobStatus.QUEUED and job.available_at > now:
        return MessageVerdict(
            False, (job.available_at - now).total_seconds(), "the job waits out a backoff"
        )
    if job.status is JobStatus.PROCESSING and job.lease_expires_at is not None:
        left = (job.lease_expires_at - now).total_seconds()
        if left > 0:
            return MessageVerdict(False, left + LEASE_MARGIN_SECONDS, "another worker holds it")
    # Due, yet another worker claimed it a moment ago: look again soon.
    return MessageVerdict(False, 1.0, "claimed by another worker just now")


@dataclass(frozen=True, slots=True)
class VideoProgress:
    """What a split video's published parts make of it."""

    transition: Transition | None  # ASSEMBLE once every part is in
    video_status: VideoStatus
    video_values: dict[str, Any]
    event: str | None  # the timeline event when the video's status changes
    reason: str


def progress_of(assembly: Assembly, duration: float) -> VideoProgress:
    renditions = [dataclasses.asdict(r) for r in assembly.renditions]
    # The poster's frame from the storyboard's tiles so far: the video's own once it plays.
    values = {"renditions": renditions, "duration": duration, "cover_time": assembly.cover_time}
    if assembly.complete:
        reason = f"every part is published: {len(renditions)} renditions"
        if assembly.receipt is not None:
            values["receipt"] = assembly.receipt.to_json()
        return VideoProgress(
            Transition.ASSEMBLE,
            VideoStatus.READY,
            values | {"error": None},
            Transition.ASSEMBLE,
            reason,
        )
    if assembly.playable:
        listed = ", ".join(r.name for r in assembly.renditions)
        to_come = f"; {', '.join(assembly.pending)} to come" if assembly.pending else ""
        return VideoProgress(
            None, VideoStatus.PLAYABLE, values, "playable", f"playable at {listed}{to_come}"
        )
    return VideoProgress(None, VideoStatus.PROCESSING, {}, None, "")
