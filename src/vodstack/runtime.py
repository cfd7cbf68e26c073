"""Wiring: build the pieces a role needs from one Settings object. Nothing here runs at
import time; entry points call these and own what they get."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack import errors
from vodstack.adapters.queue import job_signal, open_queue, open_wakeup
from vodstack.adapters.storage import open_storage
from vodstack.adapters.storage_instrumented import instrumented
from vodstack.db import sql_stores
from vodstack.db.engine import check_database, ping_database
from vodstack.db.migrate import open_database
from vodstack.domain.budgets import MediaLimits
from vodstack.ports import JobSignal, JobSource, Queue, Storage, Stores, Transcoder, Wakeup
from vodstack.services.probes import Check
from vodstack.services.processing import ChunkPolicy, Processor
from vodstack.settings import Settings
from vodstack.worker import Worker
from vodstack.worker.sources import DatabaseSource, QueueSource

if TYPE_CHECKING:
    from vodstack.adapters.ffmpeg import MediaBudget


@dataclass(frozen=True, slots=True)
class Backends:
    """The database, object storage and job queue of one process."""

    settings: Settings
    engine: AsyncEngine
    stores: Stores
    storage: Storage
    queue: Queue | None  # None: the database is the queue
    wakeup: Wakeup

    @property
    def embedded(self) -> bool:
        """SQLite: one machine, set up with nothing done by hand."""
        return self.engine.dialect.name == "sqlite"

    @property
    def signal(self) -> JobSignal:
        return job_signal(self.settings, self.queue, self.wakeup)


@asynccontextmanager
async def open_backends(
    settings: Settings, *, storage: Storage | None = None, queue: Queue | None = None
) -> AsyncIterator[Backends]:
    storage = instrumented(storage or open_storage(settings))
    queue = queue or open_queue(settings)
    try:
        async with open_database(settings) as engine:
            wakeup = open_wakeup(engine)
            stores = sql_stores(engine, settings.lease_seconds)
            try:
                yield Backends(settings, engine, stores, storage, queue, wakeup)
            finally:
                await wakeup.close()
    finally:
        if queue is not None:
            await queue.close()


async def check_backends(settings: Settings) -> dict[str, str | None]:
    """Each backend's problem, or None when it is usable: wrong credentials, a missing
    bucket or queue, an unreachable host."""
    problems: dict[str, str | None] = {}

    async def probe(name: str, check: Awaitable[None]) -> None:
        try:
            await check
            problems[name] = None
        except errors.VodstackError as exc:
            problems[name] = exc.message

    await probe("database", check_database(settings.database_url))
    try:
        storage = open_storage(settings)
    except errors.ConfigurationError as exc:
        problems["storage"] = exc.message
    else:
        await probe("storage", storage.check())
    try:
        queue = open_queue(settings)
    except errors.ConfigurationError as exc:
        problems["queue"] = exc.message
        return problems
    if queue is None:
        problems["queue"] = None
    else:
        await probe("queue", queue.check())
        await queue.close()
    return problems


def readiness_checks(backends: Backends) -> dict[str, Check]:
    """What a process needs to do its work: the database, object storage and, when the
    database is not the queue, the queue."""
    checks: dict[str, Check] = {
        "database": lambda: ping_database(backends.engine),
        "storage": backends.storage.check,
    }
    if backends.queue is not None:
        checks["queue"] = backends.queue.check
    return checks


def open_transcoder(settings: Settings) -> Transcoder:
    from vodstack.adapters.ffmpeg import FfmpegTranscoder, default_ffmpeg
    from vodstack.domain.ladder import RateControl

    return FfmpegTranscoder(
        default_ffmpeg(settings),
        settings.encoder,
        stall_timeout=settings.stall_seconds,
        budget=media_budget(settings),
        mp4_rendition=settings.mp4_rendition,
        max_rung=settings.max_rung,
        rate_control=RateControl(settings.rate_control),
        min_vmaf=settings.min_vmaf,
    )


def media_budget(settings: Settings) -> MediaBudget:
    from vodstack.adapters.ffmpeg import MediaBudget

    limits = MediaLimits(
        max_frame_pixels=settings.max_frame_pixels,
        max_duration=settings.max_duration_seconds,
        max_streams=settings.max_streams,
        max_still=settings.max_still_seconds,
        min_decoded_fraction=settings.min_decoded_fraction,
    )
    return MediaBudget(
        limits=limits,
        memory_bytes=settings.media_memory_mb * 2**20 or None,
        cpu_per_second=settings.cpu_seconds_per_media_second,
        probe_timeout=settings.probe_timeout_seconds,
    )


def job_source(backends: Backends) -> JobSource:
    """The jobs table, or the message queue in front of it."""
    settings = backends.settings
    if backends.queue is None:
        return DatabaseSource(backends.stores.jobs, backends.wakeup, settings.poll_seconds)
    return QueueSource(
        backends.queue,
        backends.stores.jobs,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
        wait_seconds=settings.queue_wait_seconds,
        sweep_seconds=settings.sweep_seconds,
    )


def build_worker(
    backends: Backends,
    *,
    transcoder: Transcoder | None = None,
    concurrency: int = 1,
    once: bool = False,
) -> Worker:
    settings = backends.settings
    processor = Processor(
        backends.stores.jobs,
        backends.storage,
        transcoder or open_transcoder(settings),
        settings.data_dir / "work",
        settings.lease_seconds,
        settings.heartbeat_seconds,
        ChunkPolicy(
            first=settings.chunk_first_seconds,
            longest=settings.chunk_longest_seconds,
            single_below=settings.chunk_single_below_seconds,
            first_tier_height=settings.first_tier_height,
            min_vmaf=settings.min_vmaf,
            shortest=settings.chunk_shortest_seconds,
        ),
        roster=backends.stores.workers,
    )
    return Worker(
        job_source(backends),
        processor.run,
        concurrency=concurrency,
        once=once,
        graceful_seconds=settings.graceful_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        pause_seconds=settings.poll_seconds,
        roster=backends.stores.workers,
    )


@asynccontextmanager
async def webhook_delivery(backends: Backends, name: str) -> AsyncIterator[None]:
    """The delivery loop of the webhook outbox, while the block runs (when this process is
    set to send them). Every process that has it may run it: deliveries are leased."""
    from vodstack.adapters.webhook_http import HttpWebhookSender
    from vodstack.services.webhooks import Deliverer, keep_pruning

    settings = backends.settings
    if not settings.webhook_delivery:
        yield
        return
    sender = HttpWebhookSender(
        allow_private=settings.webhook_allow_private,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    deliverer = Deliverer(
        backends.stores.webhooks,
        sender,
        name=name,
        retry_scale=settings.webhook_retry_scale,
        timeout_seconds=settings.webhook_timeout_seconds,
        poll_seconds=settings.webhook_poll_seconds,
    )
    # Several loops, so that one slow receiver does not hold up everyone else's deliveries.
    tasks = [
        asyncio.create_task(deliverer.run(), name=f"webhook delivery {n}")
        for n in range(settings.webhook_concurrency)
    ]
    retention = timedelta(days=settings.webhook_delivery_retention_days)
    tasks.append(
        asyncio.create_task(
            keep_pruning(backends.stores.webhooks, retention), name="webhook delivery pruning"
        )
    )
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sender.close()
