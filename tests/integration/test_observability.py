"""Observability in one process: request ids and route labels on the HTTP API, the worker's
liveness as its readiness sees it, and a trace that goes from the request completing an
upload to the worker's job, through the database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.db import add_video
from tests.support.uploads import upload_in_one_part
from vodstack import errors, tracing
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.db import sql_stores
from vodstack.domain.jobs import Lease, Outcome, Settled
from vodstack.runtime import build_worker, open_backends
from vodstack.settings import Settings
from vodstack.worker import KeepAlive, Worker
from vodstack.worker.sources import DatabaseSource

BODY = b"a tiny video, transcoded by the fake transcoder"


def requests_counted(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("vodstack_http_requests_total", labels) or 0.0


async def test_requests_get_ids_and_are_counted_by_route_template(
    api: httpx.AsyncClient,
) -> None:
    videos = requests_counted("GET", "/v1/videos/{video_id}", 404)
    unmatched = requests_counted("GET", "unmatched", 404)
    mine = await api.get("/v1/videos/0123456789abcdef", headers={"X-Request-ID": "req-42"})
    theirs = await api.get("/no/such/route", headers={"X-Request-ID": "bad id\twith tab"})
    assert mine.headers["x-request-id"] == "req-42"
    assert len(theirs.headers["x-request-id"]) == 32  # a new one, not the garbled one
    assert requests_counted("GET", "/v1/videos/{video_id}", 404) == videos + 1
    assert requests_counted("GET", "unmatched", 404) == unmatched + 1

    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}
    scraped = await api.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'vodstack_jobs{state="queued"}' in scraped.text


async def test_a_worker_is_ready_only_while_its_loop_turns(
    engine: AsyncEngine, storage: MemoryStorage
) -> None:
    stores = sql_stores(engine, 5.0)
    await add_video(stores, storage)
    working = asyncio.Event()
    finish = asyncio.Event()
    beating = True

    async def process(lease: Lease, keep_alive: KeepAlive | None) -> Settled:
        assert keep_alive is not None
        working.set()
        while not finish.is_set():
            if beating:
                await keep_alive()  # as after every heartbeat that renewed the lease
            await asyncio.sleep(0.05)
        return Settled(Outcome.PUBLISHED)

    # Silent for three of its longest waits (0.2 s here), a slot is taken to be stuck.
    source = DatabaseSource(stores.jobs, None, poll_seconds=0.2)
    worker = Worker(source, process, heartbeat_seconds=0.1)
    with pytest.raises(errors.WorkerStalled, match="not started"):
        await worker.check()
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(working.wait(), 10)
    await asyncio.sleep(0.8)
    await worker.check()  # busy for longer than the bound, but its heartbeats show it alive
    beating = False
    await asyncio.sleep(0.8)
    with pytest.raises(errors.WorkerStalled, match="no sign of life"):
        await worker.check()
    finish.set()
    await asyncio.sleep(0.3)
    await worker.check()  # back in its loop
    worker.stop()
    with pytest.raises(errors.WorkerStalled, match="stopping"):
        await worker.check()
    await asyncio.wait_for(running, 10)


@pytest.fixture
def spans() -> Iterator[Any]:
    """Spans made meanwhile, kept in memory."""
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


async def test_the_job_span_continues_the_trace_of_the_completed_upload(
    api: httpx.AsyncClient, settings: Settings, spans: Any
) -> None:
    video_id = await upload_in_one_part(api, BODY)
    async with open_backends(settings) as backends:
        await build_worker(backends, transcoder=FakeTranscoder(), once=True).run()
    assert (await api.get(f"/v1/videos/{video_id}")).json()["status"] == "ready"

    made = {span.name: span for span in spans.get_finished_spans()}
    assert {"upload.create", "upload.complete", "job", "download", "encode", "publish"} <= set(made)
    completed, job = made["upload.complete"], made["job"]
    assert completed.attributes["video_id"] == video_id
    assert job.parent is not None
    assert job.context.trace_id == completed.context.trace_id
    assert job.parent.span_id == completed.context.span_id
    assert job.attributes["epoch"] == 1
    assert job.attributes["outcome"] == "published"
    for step in ("download", "encode", "publish"):
        assert made[step].parent.span_id == job.context.span_id
    assert made["encode"].attributes["encoder"]
