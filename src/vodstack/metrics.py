"""Every Prometheus metric vodstack exports, in one place.

One process (``vodstack serve --processes 1``, a worker alone, the tests) keeps them in
prometheus_client's process-wide registry, so the all-in-one server's /metrics shows its
in-process worker's metrics too. ``vodstack serve`` with N processes (its HTTP processes and,
for role all, its worker) keeps them in files in one directory made for that run
(``shared_across_processes``), and whichever process answers /metrics shows them summed over
all: counters and histograms over every process the run started (one that exited and was
replaced included, so that a counter never goes back), gauges as each one's help says.

Labels take values from small fixed sets only (route templates, never raw paths; classes of
failure, never messages), so that the number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
# prometheus_client's own name for the directory: a process that has it in its environment
# when it first imports prometheus_client keeps its metrics in files there.
SHARED_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

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
# Gauges that processes add up: each live process's figure, summed ("livesum": a process
# that exits, or is killed, stops counting; see process_exited).
WORKER_SLOTS = Gauge(
    "vodstack_worker_slots",
    "Job slots of the workers running now, summed over the server's processes",
    multiprocess_mode="livesum",
)
WORKER_BUSY_SLOTS = Gauge(
    "vodstack_worker_busy_slots",
    "Job slots working on a job now, summed over the server's processes",
    multiprocess_mode="livesum",
)

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


# --- counted when scraped -------------------------------------------------------------


class JobCountsNow(Collector):
    """The jobs by state, the playable videos and the oldest wait, as the process that
    answers the scrape counted them in the database just before (by the HTTP roles only:
    every process reports the same database). One figure for the whole server, never a sum
    over its processes: they are not kept in the shared files, so no other process's older
    count can show."""

    def __init__(self) -> None:
        self._by_state: dict[str, int] = {}
        self._playable = 0
        self._waited = 0.0

    def set(
        self,
        counts: Mapping[str, int],
        oldest_due_at: datetime | None,
        now: datetime,
        playable: int = 0,
    ) -> None:
        self._by_state = dict(counts)
        self._playable = playable
        waited = 0.0 if oldest_due_at is None else (now - oldest_due_at).total_seconds()
        self._waited = max(0.0, waited)

    def forget(self) -> None:
        """The database did not answer: show no figure rather than a stale one."""
        self._by_state = {}
        self._playable = 0

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "vodstack_jobs",
            "Jobs in the database by state, counted when scraped by the process that answers",
            labels=["state"],
        )
        for state, count in self._by_state.items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "vodstack_videos_playable",
            "Videos that play while their later chunks are encoded, counted when scraped",
            value=self._playable,
        )
        yield GaugeMetricFamily(
            "vodstack_jobs_oldest_queued_seconds",
            "How long the oldest job that is due has waited for a worker (0: none waits), "
            "when scraped",
            value=self._waited,
        )


JOB_COUNTS = JobCountsNow()
REGISTRY.register(JOB_COUNTS)


def set_job_counts(
    counts: Mapping[str, int], oldest_due_at: datetime | None, now: datetime, playable: int = 0
) -> None:
    JOB_COUNTS.set(counts, oldest_due_at, now, playable)


def forget_job_counts() -> None:
    JOB_COUNTS.forget()


# --- one process or many ---------------------------------------------------------------


@contextlib.contextmanager
def shared_across_processes() -> Iterator[Path]:
    """A fresh directory for one ``vodstack serve`` run's metrics, named in the environment
    that the processes it starts inherit, and removed when the run ends. Enter it before
    they start: a process picks where it keeps its metrics when it imports
    prometheus_client (the serving parent itself keeps its own in memory and serves none)."""
    directory = tempfile.mkdtemp(prefix="vodstack-metrics-")
    before = os.environ.get(SHARED_DIRECTORY_VARIABLE)
    os.environ[SHARED_DIRECTORY_VARIABLE] = directory
    try:
        yield Path(directory)
    finally:
        if before is None:
            os.environ.pop(SHARED_DIRECTORY_VARIABLE, None)
        else:
            os.environ[SHARED_DIRECTORY_VARIABLE] = before
        shutil.rmtree(directory, ignore_errors=True)


def process_exited(pid: int) -> None:
    """Take an exited process out of the live gauges (its counters stay in the sums). Only
    processes that hold such gauges need it: the worker's slots; the HTTP processes hold
    counters and histograms only."""
    directory = os.environ.get(SHARED_DIRECTORY_VARIABLE)
    if directory:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def render() -> bytes:
    """This process's metrics, or, in a run of several processes, all of theirs."""
    directory = os.environ.get(SHARED_DIRECTORY_VARIABLE)
    return generate_latest(_shared_registry(directory) if directory else REGISTRY)


@functools.cache
def _shared_registry(directory: str) -> CollectorRegistry:
    """Built once per process: the collector reads the run's files anew at every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(JOB_COUNTS)
    return registry
