"""The job lease state machine: pure, no I/O. The job store guards every UPDATE with the
same rules (``WHERE status IN allowed_from(...) AND epoch = ...``), so each transition is
checked twice: here, and by the database at the moment it happens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
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


_RULES: dict[Transition, tuple[frozenset[JobStatus], JobStatus]] = {
    Transition.CLAIM: (frozenset({JobStatus.QUEUED, JobStatus.PROCESSING}), JobStatus.PROCESSING),
    Transition.HEARTBEAT: (frozenset({JobStatus.PROCESSING}), JobStatus.PROCESSING),
    Transition.PUBLISH: (frozenset({JobStatus.PROCESSING}), JobStatus.READY),
    Transition.FAIL: (frozenset({JobStatus.PROCESSING}), JobStatus.FAILED),
    Transition.RETRY: (frozenset({JobStatus.PROCESSING}), JobStatus.QUEUED),
    Transition.RELEASE: (frozenset({JobStatus.PROCESSING}), JobStatus.QUEUED),
    Transition.EXPIRE: (frozenset({JobStatus.PROCESSING}), JobStatus.FAILED),
    Transition.REQUEUE: (frozenset({JobStatus.FAILED}), JobStatus.QUEUED),
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


def after_error(attempts: int, max_attempts: int, retryable: bool) -> Transition:
    """An input error fails at once; anything else retries until the attempts are spent."""
    return Transition.RETRY if retryable and attempts < max_attempts else Transition.FAIL


def backoff(attempts: int, base: float = 5.0, cap: float = 300.0) -> timedelta:
    """5 s, 10 s, 20 s, ... up to 5 minutes: transient faults get time to clear."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))
