"""Every Prometheus metric vodstack exports, in one place.

They live in prometheus_client's process-wide registry, so the all-in-one server's /metrics
shows its in-process worker's metrics too. Labels take values from small fixed sets only
(route templates, never raw paths; classes of failure, never messages), so that the number
of series stays bounded whatever the traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

# --- HTTP -----------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "vodstack_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "vodstack_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
)
UNMATCHED_ROUTE = "unmatched"  # the route label of a request that matched no route


@dataclass(frozen=True, slots=True)
class Counted:
    """The two HTTP series of one method, route and status, looked up once."""

    requests: Any
    duration: Any


def counted(method: str, route: str, status: int) -> Counted:
    return Counted(
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
        HTTP_DURATION.labels(method=method, route=route),
    )


# --- uploads --------------------------------------------------------------------------

UPLOADS_CREATED = Counter("vodstack_uploads_created", "Uploads created")
UPLOADS_COMPLETED = Counter("vodstack_uploads_completed", "Uploads completed (and queued)")
UPLOADS_ABORTED = Counter(
    "vodstack_uploads_aborted",
    "Uploads aborted: by their owner (requested) or as abandoned",
    ["reason"],
)
UPLOAD_BYTES = Counter("vodstack_upload_bytes", "Bytes of the uploads completed")

# --- jobs -----------------------------------------------------------------------------

JOBS = Gauge(
    "vodstack_jobs",
    "Jobs in the database by state, counted when scraped (by the HTTP roles only: every "
    "process reports the same database)",
    ["state"],
)
PLAYABLE_VIDEOS = Gauge(
    "vodstack_videos_playable",
    "Videos that play while their later chunks are encoded, counted when scraped",
)
OLDEST_QUEUED = Gauge(
    "vodstack_jobs_oldest_queued_seconds",
    "How long the oldest job that is due has waited for a worker (0: none waits)",
)
JOBS_CLAIMED = Counter("vodstack_jobs_claimed", "Jobs claimed by this process's worker")
JOBS_PUBLISHED = Counter("vodstack_jobs_published", "Jobs whose outputs were published")
JOBS_RETRIED = Counter(
    "vodstack_jobs_retried",
    "Attempts that ended in an error and were queued again, by class of failure",
    ["reason"],
)
JOBS_FAILED = Counter(
    "vodstack_jobs_failed",
    "Jobs that failed for good, by class of failure",
    ["reason"],
)
LEASES_LOST = Counter(
    "vodstack_job_leases_lost",
    "Attempts stopped because another worker took over the job's lease",
)
QUEUE_WAIT = Histogram(
    "vodstack_job_queue_wait_seconds",
    "Time from a job becoming due (queued, or its lease running out) to its claim",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
WORKER_SLOTS = Gauge("vodstack_worker_slots", "Job slots of the workers in this process")
WORKER_BUSY_SLOTS = Gauge("vodstack_worker_busy_slots", "Job slots working on a job now")

# --- encoding -------------------------------------------------------------------------

ENCODE_DURATION = Histogram(
    "vodstack_encode_duration_seconds",
    "Wall-clock time of one ffmpeg run (the whole ladder), by encoder",
    ["encoder"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
ENCODE_SPEED = Histogram(
    "vodstack_encode_realtime_factor",
    "Seconds of media encoded per second of wall-clock time (above 1: faster than "
    "real time), by encoder",
    ["encoder"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
ENCODED_MEDIA = Counter(
    "vodstack_encoded_media_seconds", "Seconds of media encoded, by encoder", ["encoder"]
)

# --- storage --------------------------------------------------------------------------

STORAGE_DURATION = Histogram(
    "vodstack_storage_operation_duration_seconds",
    "Time of one object storage operation, by operation",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STORAGE_ERRORS = Counter(
    "vodstack_storage_errors",
    "Object storage operations that failed on storage's side (unreachable, refused, "
    "unexpected), by operation; a caller's mistake (a missing object, a bad ETag) is not one",
    ["operation"],
)


def set_job_counts(
    counts: Mapping[str, int], oldest_due_at: datetime | None, now: datetime, playable: int = 0
) -> None:
    for state, count in counts.items():
        JOBS.labels(state=state).set(count)
    PLAYABLE_VIDEOS.set(playable)
    waited = 0.0 if oldest_due_at is None else (now - oldest_due_at).total_seconds()
    OLDEST_QUEUED.set(max(0.0, waited))


def forget_job_counts() -> None:
    """The database did not answer: show no figure rather than a stale one."""
    JOBS.clear()
    PLAYABLE_VIDEOS.set(0)


def render() -> bytes:
    return generate_latest(REGISTRY)
