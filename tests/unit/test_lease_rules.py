"""The lease state machine, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vodstack.domain.jobs import (
    IllegalTransition,
    JobState,
    JobStatus,
    Transition,
    after_error,
    backoff,
    claimable,
    exhausted,
    next_status,
)

Q, P, R, F = JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.READY, JobStatus.FAILED
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAST, FUTURE = NOW - timedelta(seconds=1), NOW + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "transition", "expected"),
    [
        (Q, Transition.CLAIM, P),
        (P, Transition.CLAIM, P),
        (R, Transition.CLAIM, None),
        (F, Transition.CLAIM, None),
        (P, Transition.HEARTBEAT, P),
        (Q, Transition.HEARTBEAT, None),
        (P, Transition.PUBLISH, R),
        (R, Transition.PUBLISH, None),
        (Q, Transition.PUBLISH, None),
        (P, Transition.FAIL, F),
        (R, Transition.FAIL, None),
        (P, Transition.RETRY, Q),
        (P, Transition.RELEASE, Q),
        (R, Transition.RELEASE, None),
        (P, Transition.EXPIRE, F),
        (F, Transition.REQUEUE, Q),
        (R, Transition.REQUEUE, None),
        (P, Transition.REQUEUE, None),
        (R, Transition.REENCODE, Q),
        (F, Transition.REENCODE, None),
        (P, Transition.REENCODE, None),
        (R, Transition.REOPEN, JobStatus.SPLIT),
        (JobStatus.SPLIT, Transition.REOPEN, None),
    ],
)
def test_transitions(status: JobStatus, transition: Transition, expected: JobStatus | None) -> None:
    if expected is None:
        with pytest.raises(IllegalTransition):
            next_status(status, transition)
    else:
        assert next_status(status, transition) is expected


def state(
    status: JobStatus, attempts: int = 0, lease: datetime | None = None, available: datetime = NOW
) -> JobState:
    return JobState(status, 1, attempts, 3, lease, available)


@pytest.mark.parametrize(
    ("job", "can_claim", "is_exhausted"),
    [
        (state(Q), True, False),
        (state(Q, available=FUTURE), False, False),  # backing off
        (state(Q, attempts=3), False, False),
        (state(P, 1, lease=FUTURE), False, False),  # a live lease
        (state(P, 1, lease=PAST), True, False),  # an expired lease
        (state(P, 3, lease=PAST), False, True),  # expired, no attempts left
        (state(R, 1), False, False),
        (state(F, 3), False, False),
    ],
)
def test_claimable_and_exhausted(job: JobState, can_claim: bool, is_exhausted: bool) -> None:
    assert claimable(job, NOW) is can_claim
    assert exhausted(job, NOW) is is_exhausted


@pytest.mark.parametrize(
    ("attempts", "retryable", "expected"),
    [
        (1, True, Transition.RETRY),
        (4, True, Transition.RETRY),
        (5, True, Transition.FAIL),
        (1, False, Transition.FAIL),
    ],
)
def test_after_error(attempts: int, retryable: bool, expected: Transition) -> None:
    assert after_error(attempts, 5, retryable) is expected


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 10)] == [5, 10, 20, 40, 300]
