"""Readiness answers within its timeout whatever the backends do, says which check failed,
and never piles checks up on a backend that hangs; the metrics count the jobs when scraped."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from vodstack import errors
from vodstack.domain.jobs import JobCounts, JobStatus
from vodstack.services.probes import Probes

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def fine() -> None:
    return None


async def refused() -> None:
    raise ConnectionRefusedError("db.internal:5432 refused the connection")


async def stalled() -> None:
    raise errors.WorkerStalled("worker slot w/0 gave no sign of life for 50 s")


async def test_ready_when_every_check_passes() -> None:
    assert await Probes({"database": fine, "storage": fine}).readiness() == {
        "database": "ok",
        "storage": "ok",
    }


async def test_a_failed_check_is_named_without_its_details() -> None:
    answers = await Probes({"database": refused, "storage": fine, "worker": stalled}).readiness()
    assert answers["storage"] == "ok"
    assert answers["database"] == "unavailable: ConnectionRefusedError"
    assert "db.internal" not in answers["database"]  # hosts are for the log, not the world
    assert answers["worker"] == "worker slot w/0 gave no sign of life for 50 s"


async def test_a_hanging_check_times_out_and_is_not_started_again_meanwhile() -> None:
    started = 0
    release = asyncio.Event()

    async def hangs() -> None:
        nonlocal started
        started += 1
        await release.wait()

    probes = Probes({"storage": hangs, "database": fine}, timeout=0.05)
    began = time.monotonic()
    first = await probes.readiness()
    second = await probes.readiness()
    assert time.monotonic() - began < 1
    assert first == second == {"storage": "no answer within 0.05 s", "database": "ok"}
    assert started == 1  # the second probe waited on the same check
    release.set()
    await asyncio.sleep(0)
    assert (await probes.readiness())["storage"] == "ok"
    assert started == 2  # once it had finished, the next probe checked afresh


async def test_the_metrics_count_the_jobs_when_scraped() -> None:
    async def counts() -> JobCounts:
        by_status = dict.fromkeys(JobStatus, 0) | {JobStatus.QUEUED: 3, JobStatus.READY: 7}
        return JobCounts(by_status, NOW - timedelta(seconds=42))

    text = (await Probes({}, counts, clock=lambda: NOW).metrics()).decode()
    samples = {
        (s.name, s.labels.get("state")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("vodstack_jobs")
    }
    assert samples[("vodstack_jobs", "queued")] == 3
    assert samples[("vodstack_jobs", "ready")] == 7
    assert samples[("vodstack_jobs", "failed")] == 0
    assert samples[("vodstack_jobs_oldest_queued_seconds", None)] == 42


async def test_no_stale_job_counts_when_the_database_is_away() -> None:
    async def counts() -> JobCounts:
        raise ConnectionRefusedError()

    text = (await Probes({}, counts).metrics()).decode()
    assert "vodstack_jobs{" not in text
