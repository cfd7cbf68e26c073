"""The SQL behind uploads and the videos they create, in one named place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.db.jobs import enqueue_job
from vodstack.db.session import reading, transaction
from vodstack.db.tables import upload_parts, uploads, videos
from vodstack.db.videos import storable, video_values
from vodstack.db.webhooks import video_changed
from vodstack.domain.uploads import StoredPart, Upload, UploadStatus
from vodstack.domain.videos import Video, VideoStatus


class SqlUploadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, video: Video, upload: Upload) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(insert(videos).values(**video_values(video)))
            await conn.execute(
                insert(uploads).values(
                    id=upload.id,
                    video_id=video.id,
                    owner_id=upload.owner_id,
                    storage_upload_id=upload.storage_upload_id,
                    storage_key=upload.storage_key,
                    size=upload.size,
                    part_size=upload.part_size,
                    status=upload.status,
                    created_at=video.created_at,
                )
            )

    async def get(self, upload_id: str) -> Upload | None:
        if not storable(upload_id):
            return None
        async with reading(self._engine) as conn:
            found = await conn.execute(select(uploads).where(uploads.c.id == upload_id))
            row = found.mappings().first()
        return None if row is None else _upload(row)

    async def active_before(self, cutoff: datetime, limit: int = 100) -> list[Upload]:
        query = (
            select(uploads)
            .where(uploads.c.status == UploadStatus.ACTIVE, uploads.c.created_at < cutoff)
            .order_by(uploads.c.created_at)
            .limit(limit)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_upload(r) for r in rows]

    async def completed_parts(self, upload_id: str) -> list[StoredPart]:
        query = (
            select(upload_parts)
            .where(upload_parts.c.upload_id == upload_id)
            .order_by(upload_parts.c.part_number)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [StoredPart(r["part_number"], r["etag"], r["size"]) for r in rows]

    async def complete(
        self,
        upload: Upload,
        parts: Sequence[StoredPart],
        max_attempts: int,
        now: datetime,
        trace_context: str | None = None,
    ) -> bool:
        async with transaction(self._engine) as conn:
            done = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload.id, uploads.c.status == UploadStatus.ACTIVE)
                .values(status=UploadStatus.COMPLETED, finished_at=now)
            )
            if done.rowcount != 1 or upload.video_id is None:
                await conn.rollback()
                return False
            await conn.execute(
                insert(upload_parts),
                [
                    {
                        "upload_id": upload.id,
                        "part_number": p.part_number,
                        "etag": p.etag,
                        "size": p.size,
                    }
                    for p in parts
                ],
            )
            queued = await conn.execute(
                update(videos)
                .where(videos.c.id == upload.video_id, videos.c.status == VideoStatus.UPLOADING)
                .values(status=VideoStatus.QUEUED, updated_at=now)
            )
            if queued.rowcount == 1:
                await video_changed(conn, upload.video_id, VideoStatus.UPLOADING, now)
            await enqueue_job(conn, upload.video_id, max_attempts, now, trace_context)
        return True

    async def abort(self, upload: Upload, now: datetime) -> bool:
        async with transaction(self._engine) as conn:
            done = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload.id, uploads.c.status == UploadStatus.ACTIVE)
                .values(status=UploadStatus.ABORTED, finished_at=now, video_id=None)
            )
            if done.rowcount != 1:
                return False
            if upload.video_id is not None:
                await conn.execute(delete(videos).where(videos.c.id == upload.video_id))
        return True


def _upload(row: RowMapping) -> Upload:
    return Upload(
        id=row["id"],
        video_id=row["video_id"],
        storage_upload_id=row["storage_upload_id"],
        storage_key=row["storage_key"],
        size=row["size"],
        part_size=row["part_size"],
        status=UploadStatus(row["status"]),
        owner_id=row["owner_id"],
    )
