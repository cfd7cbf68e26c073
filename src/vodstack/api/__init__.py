"""The HTTP API: ``create_app(settings)`` builds it; nothing connects before start-up."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from vodstack import __version__
from vodstack.adapters.ffmpeg import default_ffmpeg
from vodstack.adapters.frames import FfmpegFrameGrabber
from vodstack.adapters.storage import open_storage
from vodstack.adapters.storage_instrumented import instrumented
from vodstack.adapters.webhook_http import HttpWebhookSender
from vodstack.api.deps import Services
from vodstack.api.errors import install_error_handlers
from vodstack.api.middleware import AccessLog, RequestObserver
from vodstack.api.routes import (
    captions,
    direct_uploads,
    health,
    keys,
    pages,
    playback,
    storage_parts,
    uploads,
    videos,
    webhooks,
)
from vodstack.ports import FrameGrabber, PartReceiver, Queue, Storage
from vodstack.runtime import (
    Backends,
    build_worker,
    open_backends,
    readiness_checks,
    webhook_delivery,
)
from vodstack.services.accounts import AccountService
from vodstack.services.captions import CaptionService
from vodstack.services.direct_uploads import DirectUploadService
from vodstack.services.playback import PlaybackService
from vodstack.services.probes import Probes
from vodstack.services.ratelimit import RateLimiter
from vodstack.services.thumbnails import ThumbnailService
from vodstack.services.uploads import UploadService
from vodstack.services.videos import VideoService
from vodstack.services.webhooks import WebhookService
from vodstack.settings import Settings, ensure_signing_key
from vodstack.worker import Worker

log = logging.getLogger(__name__)

Role = Literal["all", "upload", "play"]


def create_app(
    settings: Settings,
    role: Role = "all",
    workers: int = 0,
    *,
    storage: Storage | None = None,
    queue: Queue | None = None,
    frames: FrameGrabber | None = None,
) -> FastAPI:
    """``workers`` > 0 runs that many job slots inside this process (the all-in-one mode).
    ``storage``, ``queue`` and ``frames`` replace the configured ones (tests pass in-memory
    twins)."""
    storage = instrumented(storage or open_storage(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_backends(settings, storage=storage, queue=queue) as backends:
            services = build_services(backends, frames)
            if backends.embedded:
                await services.accounts.ensure_first_admin(settings.data_dir)
            app.state.services = services
            app.state.webhooks = webhook_service(backends)
            checks = readiness_checks(backends)
            async with contextlib.AsyncExitStack() as background:
                if role in ("all", "upload"):
                    cleanup = services.uploads.abort_abandoned
                    await background.enter_async_context(
                        _every(_CLEANUP_SECONDS, cleanup, "upload cleanup")
                    )
                if workers > 0:
                    worker = build_worker(backends, concurrency=workers)
                    worker_task = asyncio.create_task(worker.run(), name="worker")
                    background.push_async_callback(_stop_worker, worker, worker_task)
                    checks["worker"] = worker.check
                await background.enter_async_context(
                    webhook_delivery(backends, f"api-{os.getpid()}-{uuid.uuid4().hex[:6]}")
                )
                app.state.probes = Probes(checks, backends.stores.jobs.counts)
                _freeze_what_start_up_made()
                yield

    app = FastAPI(title="vodstack", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    _add_middleware(app, settings)
    app.include_router(health.router)
    app.include_router(keys.router)  # any process may revoke a key: every one refuses it
    if role in ("all", "upload"):
        app.include_router(uploads.router)
        app.include_router(direct_uploads.router)
        if isinstance(storage, PartReceiver):
            app.include_router(storage_parts.router)
    if role in ("all", "play"):
        app.include_router(videos.router)
        app.include_router(playback.router)
        app.include_router(playback.access_router)
        app.include_router(captions.router)
        app.include_router(webhooks.router)
    if role == "all":  # the pages use both the upload and the play API
        app.include_router(pages.router)
    return app


def _freeze_what_start_up_made() -> None:
    """What start-up made (modules, the app, its services) lives as long as the process:
    the collector need not walk it on every full collection, which otherwise shows as
    pauses in the play path's tail latency."""
    gc.collect()
    gc.freeze()


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Range", "X-Request-ID"],
        # Browsers must read a part's ETag to complete an upload, and ranges to play.
        expose_headers=[
            "ETag",
            "Content-Length",
            "Content-Range",
            "Accept-Ranges",
            "X-Request-ID",
        ],
    )
    app.add_middleware(
        RequestObserver, access=AccessLog(settings.access_log_sample)
    )  # added last: outermost, so it sees every answer


def served_app(app: FastAPI, settings: Settings, role: Role) -> ASGIApp:
    """What the HTTP server runs: the app, with ladder files answered in front of it."""
    from vodstack.api.hot_path import HotPath

    return HotPath(app, settings) if role in ("all", "play") else app


def build_services(backends: Backends, frames: FrameGrabber | None = None) -> Services:
    """Every service the routes call, over the process's backends."""
    settings, stores, storage = backends.settings, backends.stores, backends.storage
    signing_key = ensure_signing_key(settings)
    playback = PlaybackService(
        stores.videos, storage, settings, signing_key, captions=stores.captions
    )
    frames = frames or FfmpegFrameGrabber(default_ffmpeg(settings))
    uploads = UploadService(stores.uploads, stores.videos, storage, settings, backends.signal)
    videos = VideoService(
        stores.videos, stores.jobs, storage, backends.signal, changed=playback.forget
    )
    return Services(
        settings=settings,
        storage=storage,
        accounts=AccountService(stores.accounts),
        uploads=uploads,
        direct_uploads=DirectUploadService(stores.direct_uploads, uploads, settings, signing_key),
        videos=videos,
        playback=playback,
        captions=CaptionService(stores.captions, videos, storage, changed=playback.forget),
        thumbnails=ThumbnailService(
            playback,
            storage,
            frames,
            RateLimiter(stores.rate_limits, settings.new_thumbnails_per_minute, "new thumbnails"),
        ),
        upload_limit=RateLimiter(stores.rate_limits, settings.uploads_per_minute, "uploads"),
        token_limit=RateLimiter(
            stores.rate_limits, settings.playback_tokens_per_minute, "playback tokens"
        ),
    )


def webhook_service(backends: Backends) -> WebhookService:
    """Registration checks a URL's addresses with the sender that delivers to them."""
    settings = backends.settings
    sender = HttpWebhookSender(
        allow_private=settings.webhook_allow_private,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    return WebhookService(backends.stores.webhooks, sender)


# Abandoned uploads are measured in hours; looking a few times an hour is plenty.
_CLEANUP_SECONDS = 600.0


async def _stop_worker(worker: Worker, task: asyncio.Task[None]) -> None:
    worker.stop()
    worker.stop()  # the server is going away: hand running jobs back now
    await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def _every(
    seconds: float, action: Callable[[], Awaitable[object]], name: str
) -> AsyncIterator[None]:
    """Run ``action`` now and then every ``seconds`` while the block runs; a failure is
    logged and tried again next time."""

    async def loop() -> None:
        while True:
            try:
                await action()
            except Exception as exc:
                log.warning("%s failed: %s", name, exc)
            await asyncio.sleep(seconds)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
