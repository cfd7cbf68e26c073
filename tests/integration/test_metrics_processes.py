"""Metrics kept by several processes in one serve run's directory: any process's /metrics
shows counters and histograms summed over every process that ran, the worker slots of the
live ones, and the job counts once; outside such a run a process shows its own."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from tests.support.metrics import Scrape
from vodstack import metrics

# What one process of the run does: run a worker of 2 slots that publishes one job.
_ONE_PROCESS = """
import vodstack.metrics as m
m.WORKER_SLOTS.inc(2)
m.JOBS_PUBLISHED.inc()
m.ENCODE_DURATION.labels(encoder="libx264").observe(3)
"""


def _run_one() -> int:
    """A process of the run, which exits without taking its slots back (as if killed)."""
    process = subprocess.Popen([sys.executable, "-c", _ONE_PROCESS], env=dict(os.environ))
    assert process.wait(timeout=60) == 0
    return process.pid


def test_every_process_of_a_run_counts_in_every_scrape() -> None:
    assert metrics.SHARED_DIRECTORY_VARIABLE not in os.environ
    with metrics.shared_across_processes() as directory:
        assert os.environ[metrics.SHARED_DIRECTORY_VARIABLE] == str(directory)
        assert not any(directory.iterdir())  # fresh
        first = _run_one()
        _run_one()
        metrics.set_job_counts({"queued": 3}, None, datetime.now(UTC))
        both = Scrape(metrics.render().decode())
        assert both.value("vodstack_jobs_published_total") == 2
        assert both.value("vodstack_encode_duration_seconds_count", encoder="libx264") == 2
        assert both.value("vodstack_worker_slots") == 4
        assert both.value("vodstack_jobs", state="queued") == 3  # counted once, not summed

        metrics.process_exited(first)
        after = Scrape(metrics.render().decode())
        assert after.value("vodstack_worker_slots") == 2  # the live process's only
        assert after.value("vodstack_jobs_published_total") == 2  # a counter never goes back
        metrics.forget_job_counts()
    assert metrics.SHARED_DIRECTORY_VARIABLE not in os.environ
    assert not directory.exists()  # removed with the run


def test_a_process_alone_shows_its_own_metrics() -> None:
    before = Scrape(metrics.render().decode()).value("vodstack_jobs_published_total")
    metrics.JOBS_PUBLISHED.inc()
    shown = Scrape(metrics.render().decode())
    assert shown.value("vodstack_jobs_published_total") == before + 1
    assert "vodstack_jobs_oldest_queued_seconds" in shown.names()
