"""The HTTP API: ``create_app(settings)`` builds it; nothing connects before start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI

from vodstack import __version__
from vodstack.adapters.storage import open_storage
from vodstack.api.deps import Services
from vodstack.api.errors import install_error_handlers
from vodstack.api.routes import health, storage_parts, uploads, videos
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate
from vodstack.db.uploads import UploadStore, VideoQueries
from vodstack.ports import PartReceiver
from vodstack.services.uploads import UploadService
from vodstack.settings import Settings

Role = Literal["all", "upload", "play"]


def create_app(settings: Settings, role: Role = "all") -> FastAPI:
    storage = open_storage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.database_url)
        await migrate(engine)
        video_queries = VideoQueries(engine)
        app.state.engine = engine
        app.state.services = Services(
            settings=settings,
            storage=storage,
            uploads=UploadService(UploadStore(engine), video_queries, storage, settings),
            videos=video_queries,
        )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="vodstack", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health.router)
    if role in ("all", "upload"):
        app.include_router(uploads.router)
        if isinstance(storage, PartReceiver):
            app.include_router(storage_parts.router)
    if role in ("all", "play"):
        app.include_router(videos.router)
    return app
