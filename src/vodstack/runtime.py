"""Wiring: build the pieces a role needs from one Settings object. Nothing here runs at
import time; entry points call these and own what they get."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.adapters.storage import open_storage
from vodstack.db.jobs import JobStore
from vodstack.ports import Storage, Transcoder
from vodstack.services.processing import Processor
from vodstack.settings import Settings
from vodstack.worker import Worker


def open_transcoder(settings: Settings) -> Transcoder:
    from vodstack.adapters.ffmpeg import FfmpegTranscoder, default_ffmpeg

    return FfmpegTranscoder(
        default_ffmpeg(settings), settings.encoder, stall_timeout=settings.stall_seconds
    )


def build_worker(
    settings: Settings,
    engine: AsyncEngine,
    *,
    storage: Storage | None = None,
    transcoder: Transcoder | None = None,
    concurrency: int = 1,
    once: bool = False,
) -> Worker:
    jobs = JobStore(engine, settings.lease_seconds)
    processor = Processor(
        jobs,
        storage or open_storage(settings),
        transcoder or open_transcoder(settings),
        settings.data_dir / "work",
        settings.lease_seconds,
        settings.heartbeat_seconds,
    )
    return Worker(
        jobs,
        processor.run,
        concurrency=concurrency,
        once=once,
        poll_seconds=settings.poll_seconds,
        graceful_seconds=settings.graceful_seconds,
    )
