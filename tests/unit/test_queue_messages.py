"""What a queue message means: ours, S3's event notifications (straight or through SNS),
and anything else, which names no video."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from vodstack.adapters.queue_sqs import video_of
from vodstack.domain.jobs import JobState, JobStatus, message_verdict

VIDEO = "0123456789abcdef0123456789abcdef"


def s3_event(key: str, name: str = "ObjectCreated:CompleteMultipartUpload") -> str:
    return json.dumps(
        {"Records": [{"eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": key}}}]}
    )


@pytest.mark.parametrize(
    ("body", "prefix", "expected"),
    [
        (json.dumps({"video_id": VIDEO}), "", VIDEO),
        (s3_event(f"sources/{VIDEO}/source"), "", VIDEO),
        (s3_event(f"vod/sources/{VIDEO}/source"), "vod/", VIDEO),
        (s3_event(f"vod%2Fsources%2F{VIDEO}%2Fsource"), "vod/", VIDEO),
        (
            json.dumps({"Type": "Notification", "Message": s3_event(f"sources/{VIDEO}/source")}),
            "",
            VIDEO,
        ),
        (s3_event(f"sources/{VIDEO}/source", "ObjectRemoved:Delete"), "", None),
        (s3_event(f"outputs/{VIDEO}/e1/master.m3u8"), "", None),
        (s3_event(f"other/sources/{VIDEO}/source"), "vod/", None),
        (json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), "", None),
        (json.dumps({"video_id": "../x"}), "", None),
        (json.dumps({"Records": [{"s3": "nonsense"}, 3]}), "", None),
        ("{not json", "", None),
        ("42", "", None),
    ],
)
def test_what_a_message_names(body: str, prefix: str, expected: str | None) -> None:
    assert video_of(body, prefix) == expected


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(status: JobStatus, **changes: object) -> JobState:
    fields: dict[str, object] = {
        "status": status,
        "epoch": 1,
        "attempts": 1,
        "max_attempts": 5,
        "lease_expires_at": None,
        "available_at": NOW,
    }
    fields.update(changes)
    return JobState(**fields)  # type: ignore[arg-type]


def test_a_message_for_a_settled_or_unknown_job_is_deleted() -> None:
    assert message_verdict(False, None, NOW).delete
    assert message_verdict(True, job(JobStatus.READY), NOW).delete
    assert message_verdict(True, job(JobStatus.FAILED), NOW).delete


def test_a_message_for_a_split_video_with_no_part_due_is_one_too_many() -> None:
    # Each part held has its holder's message, each part in backoff its own, delayed.
    verdict = message_verdict(True, job(JobStatus.SPLIT), NOW)
    assert verdict.delete
    assert verdict.why == "every part of it is taken or done"


def test_a_message_that_arrives_before_its_upload_is_committed_comes_back() -> None:
    verdict = message_verdict(True, None, NOW)
    assert not verdict.delete
    assert verdict.delay > 0


def test_a_message_during_a_backoff_comes_back_when_it_ends() -> None:
    verdict = message_verdict(
        True, job(JobStatus.QUEUED, available_at=NOW + timedelta(seconds=20)), NOW
    )
    assert (verdict.delete, verdict.delay) == (False, 20)


def test_a_message_for_a_held_job_comes_back_just_after_the_lease_would_run_out() -> None:
    verdict = message_verdict(
        True,
        job(JobStatus.PROCESSING, lease_expires_at=NOW + timedelta(seconds=30)),
        NOW,
    )
    assert not verdict.delete
    assert 30 < verdict.delay <= 35
