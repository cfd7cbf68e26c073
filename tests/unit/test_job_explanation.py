"""The one sentence that tells a person why a video is not ready yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vodstack.domain.jobs import JobState, JobStatus, JobView, explain

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def view(
    status: JobStatus,
    *,
    attempts: int = 0,
    lease_in: float | None = None,
    available_in: float = 0,
    heard_ago: float = 0,
    error: str | None = None,
    ahead: int = 0,
) -> JobView:
    state = JobState(
        status=status,
        epoch=attempts,
        attempts=attempts,
        max_attempts=3,
        lease_expires_at=None if lease_in is None else NOW + timedelta(seconds=lease_in),
        available_at=NOW + timedelta(seconds=available_in),
    )
    return JobView(
        state,
        "worker-7" if status is JobStatus.PROCESSING else None,
        0.42,
        error,
        NOW - timedelta(seconds=heard_ago),
        ahead,
    )


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (
            view(JobStatus.QUEUED, available_in=-5, ahead=2),
            "waiting 5 s for a free worker, behind 2 other videos (attempt 1 of 3); "
            "if this lasts, check that a worker is running",
        ),
        (
            view(JobStatus.QUEUED, available_in=-600),
            "waiting 10 min for a free worker (attempt 1 of 3); "
            "if this lasts, check that a worker is running",
        ),
        (
            view(JobStatus.QUEUED, attempts=1, available_in=20, error="storage unavailable"),
            "attempt 2 of 3 starts in 20 s after: storage unavailable",
        ),
        (
            view(JobStatus.PROCESSING, attempts=2, lease_in=20, heard_ago=3),
            "worker-7 is on attempt 2 of 3, 42% done, last heard 3 s ago",
        ),
        (
            view(JobStatus.PROCESSING, attempts=1, lease_in=-8),
            "worker-7 stopped renewing its lease 8 s ago; the next free worker takes the job over",
        ),
        (
            view(JobStatus.PROCESSING, attempts=3, lease_in=-8),
            "worker-7 stopped renewing its lease 8 s ago; "
            "no attempt is left, so the job will be marked failed",
        ),
        (
            view(JobStatus.FAILED, attempts=1, error="not a video: no video stream"),
            "failed after 1 attempt: not a video: no video stream",
        ),
        (view(JobStatus.READY, attempts=1), "ready"),
    ],
)
def test_explanation(job: JobView, expected: str) -> None:
    assert explain(job, NOW) == expected
