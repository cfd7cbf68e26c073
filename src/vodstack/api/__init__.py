"""The HTTP API: ``create_app(settings)`` builds it; nothing connects before start-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vodstack import __version__
from vodstack.adapters.storage import open_storage
from vodstack.api.deps import Services
from vodstack.api.errors import install_error_handlers
from vodstack.api.routes import health, pages, playback, storage_parts, uploads, videos
from vodstack.db.jobs import JobStore
from vodstack.db.migrate import open_database
from vodstack.db.uploads import UploadStore, VideoQueries
from vodstack.ports import PartReceiver
from vodstack.runtime import build_worker
from vodstack.services.playback import PlaybackService
from vodstack.services.uploads import UploadService
from vodstack.settings import Settings

Role = Literal["all", "upload", "play"]


def create_app(settings: Settings, role: Role = "all", workers: int = 0) -> FastAPI:
    """``workers`` > 0 runs that many job slots inside this process (the all-in-one mode)."""
    storage = open_storage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_database(settings) as engine:
            video_queries = VideoQueries(engine)
            app.state.engine = engine
            app.state.services = Services(
                settings=settings,
                storage=storage,
                uploads=UploadService(UploadStore(engine), video_queries, storage, settings),
                videos=video_queries,
                jobs=JobStore(engine, settings.lease_seconds),
                playback=PlaybackService(video_queries, storage, settings),
            )
            if workers == 0:
                yield
                return
            worker = build_worker(settings, engine, storage=storage, concurrency=workers)
            worker_task = asyncio.create_task(worker.run(), name="worker")
            try:
                yield
            finally:
                worker.stop()
                worker.stop()  # the server is going away: hand running jobs back now
                await asyncio.gather(worker_task, return_exceptions=True)

    app = FastAPI(title="vodstack", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Range"],
        # Browsers must read a part's ETag to complete an upload, and ranges to play.
        expose_headers=["ETag", "Content-Length", "Content-Range", "Accept-Ranges"],
    )
    app.include_router(health.router)
    if role in ("all", "upload"):
        app.include_router(uploads.router)
        if isinstance(storage, PartReceiver):
            app.include_router(storage_parts.router)
    if role in ("all", "play"):
        app.include_router(videos.router)
        app.include_router(playback.router)
    if role == "all":  # the pages use both the upload and the play API
        app.include_router(pages.router)
    return app
