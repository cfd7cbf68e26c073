"""The jobs table: how a job enters the queue. (Claiming and leasing live beside it.)"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vodstack.db.tables import job_events, jobs

QUEUED = "queued"


async def enqueue_job(
    conn: AsyncConnection, video_id: str, max_attempts: int, now: datetime
) -> str:
    """Insert a queued job and its first timeline event, inside the caller's transaction."""
    job_id = uuid.uuid4().hex
    await conn.execute(
        insert(jobs).values(
            id=job_id,
            video_id=video_id,
            status=QUEUED,
            epoch=0,
            attempts=0,
            max_attempts=max_attempts,
            progress=0.0,
            available_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        insert(job_events).values(
            job_id=job_id,
            video_id=video_id,
            at=now,
            kind="queued",
            status=QUEUED,
            epoch=0,
            reason="upload completed",
        )
    )
    return job_id
