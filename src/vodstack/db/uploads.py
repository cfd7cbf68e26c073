"""The SQL behind uploads and the videos they create, in one named place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.db.jobs import enqueue_job
from vodstack.db.tables import job_events, jobs, upload_parts, uploads, videos
from vodstack.domain.accounts import User, Visibility
from vodstack.domain.uploads import StoredPart, Upload, UploadStatus
from vodstack.domain.videos import Video, VideoStatus


class UploadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, video: Video, upload: Upload) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(videos).values(**_video_values(video)))
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
        if not _storable(upload_id):
            return None
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(uploads).where(uploads.c.id == upload_id)))
                .mappings()
                .first()
            )
        return None if row is None else _upload(row)

    async def active_before(self, cutoff: datetime, limit: int = 100) -> list[Upload]:
        """Uploads still open that were created before ``cutoff``, oldest first."""
        query = (
            select(uploads)
            .where(uploads.c.status == UploadStatus.ACTIVE, uploads.c.created_at < cutoff)
            .order_by(uploads.c.created_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_upload(r) for r in rows]

    async def completed_parts(self, upload_id: str) -> list[StoredPart]:
        query = (
            select(upload_parts)
            .where(upload_parts.c.upload_id == upload_id)
            .order_by(upload_parts.c.part_number)
        )
        async with self._engine.connect() as conn:
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
        """Mark the upload complete and queue its video's job, in one transaction.
        False when another request completed (or aborted) it first."""
        async with self._engine.begin() as conn:
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
            await conn.execute(
                update(videos)
                .where(videos.c.id == upload.video_id, videos.c.status == VideoStatus.UPLOADING)
                .values(status=VideoStatus.QUEUED, updated_at=now)
            )
            await enqueue_job(conn, upload.video_id, max_attempts, now, trace_context)
        return True

    async def abort(self, upload: Upload, now: datetime) -> bool:
        """Mark the upload aborted and forget its video, which never existed for anyone.
        False when it was no longer active."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(uploads)
                .where(uploads.c.id == upload.id, uploads.c.status == UploadStatus.ACTIVE)
                .values(status=UploadStatus.ABORTED, finished_at=now, video_id=None)
            )
            if done.rowcount != 1:
                await conn.rollback()
                return False
            if upload.video_id is not None:
                await conn.execute(delete(videos).where(videos.c.id == upload.video_id))
        return True


class VideoQueries:
    """Read-side queries for the API."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def update(self, video_id: str, values: dict[str, Any], now: datetime) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(videos).where(videos.c.id == video_id).values(updated_at=now, **values)
            )

    async def delete(self, video_id: str) -> None:
        """The video, its job and timeline; its upload row stays, marked with no video."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(job_events).where(job_events.c.video_id == video_id))
            await conn.execute(delete(jobs).where(jobs.c.video_id == video_id))
            await conn.execute(
                update(uploads).where(uploads.c.video_id == video_id).values(video_id=None)
            )
            await conn.execute(delete(videos).where(videos.c.id == video_id))

    async def get(self, video_id: str) -> Video | None:
        if not _storable(video_id):
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(_video_select().where(videos.c.id == video_id))).mappings()
            found = row.first()
        return None if found is None else _video(found)

    async def list(self, limit: int = 100, caller: User | None = None) -> list[Video]:
        """What ``caller`` may list: an admin everything, a user their own videos, anyone
        else the public videos that are ready."""
        query = _video_select().order_by(videos.c.created_at.desc(), videos.c.id).limit(limit)
        if caller is None:
            query = query.where(
                videos.c.visibility == Visibility.PUBLIC, videos.c.status == VideoStatus.READY
            )
        elif not caller.is_admin:
            query = query.where(videos.c.owner_id == caller.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_video(r) for r in rows]


def _video_select() -> Any:
    return select(videos, jobs.c.progress, jobs.c.published_epoch).select_from(
        videos.outerjoin(jobs, jobs.c.video_id == videos.c.id)
    )


def _video_values(video: Video) -> dict[str, Any]:
    return {column.name: getattr(video, column.name) for column in videos.columns}


def _video(row: RowMapping) -> Video:
    return Video(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        source_key=row["source_key"],
        status=VideoStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        error=row["error"],
        duration=row["duration"],
        progress=row["progress"] or 0.0,
        renditions=row["renditions"] or [],
        published_epoch=row["published_epoch"],
        owner_id=row["owner_id"],
        visibility=Visibility(row["visibility"]),
    )


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


def _storable(id_: str) -> bool:
    """Whether a row could have this id: PostgreSQL text cannot hold a NUL, so an id with
    one names nothing, and sent in a query it would fail the query."""
    return "\x00" not in id_
