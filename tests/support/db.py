"""Database fixtures shared by tests of the job store and the worker."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.clock import utc_now
from vodstack.db.jobs import enqueue_job
from vodstack.db.tables import videos
from vodstack.domain.videos import source_key


async def add_queued_video(engine: AsyncEngine, now: datetime, max_attempts: int = 3) -> str:
    """A video whose upload completed: its row and its queued job."""
    video_id = uuid.uuid4().hex
    async with engine.begin() as conn:
        await conn.execute(
            insert(videos).values(
                id=video_id,
                title="t",
                description="",
                filename="f.mp4",
                size=1,
                source_key=source_key(video_id),
                status="queued",
                created_at=now,
                updated_at=now,
            )
        )
        await enqueue_job(conn, video_id, max_attempts, now)
    return video_id


async def add_video(engine: AsyncEngine, storage: MemoryStorage, max_attempts: int = 3) -> str:
    """A queued video whose source (its own id, which test transcoders read) is stored."""
    video_id = await add_queued_video(engine, utc_now(), max_attempts)
    storage.objects[source_key(video_id)] = video_id.encode()
    return video_id
