"""The SQL behind videos as users see them, in one named place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.db.jobs import own_job
from vodstack.db.session import reading, transaction
from vodstack.db.tables import captions, job_events, jobs, uploads, videos
from vodstack.db.webhooks import video_deleted
from vodstack.domain.accounts import Actor, User, Visibility, is_administrator
from vodstack.domain.chunks import PartOutput, VideoPlan
from vodstack.domain.videos import Video, VideoChanges, VideoStatus


class SqlVideoStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, video_id: str) -> Video | None:
        if not storable(video_id):
            return None
        async with reading(self._engine) as conn:
            found = (await conn.execute(_with_job().where(videos.c.id == video_id))).mappings()
            row = found.first()
        return None if row is None else _video(row)

    async def ready_after(self, after: str, limit: int = 100) -> list[Video]:
        query = (
            _with_job()
            .where(videos.c.status == VideoStatus.READY, videos.c.id > after)
            .order_by(videos.c.id)
            .limit(limit)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_video(r) for r in rows]

    async def list(self, actor: Actor, limit: int = 100) -> list[Video]:
        query = _with_job().order_by(videos.c.created_at.desc(), videos.c.id).limit(limit)
        if is_administrator(actor):
            pass
        elif isinstance(actor, User):
            query = query.where(videos.c.owner_id == actor.id)
        else:  # anyone else: the public videos that are ready
            query = query.where(
                videos.c.visibility == Visibility.PUBLIC,
                videos.c.status.in_([VideoStatus.PLAYABLE, VideoStatus.READY]),
            )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_video(r) for r in rows]

    async def update(self, video_id: str, changes: VideoChanges, now: datetime) -> None:
        values: dict[str, Any] = {
            name: value
            for name, value in (
                ("title", changes.title),
                ("description", changes.description),
                ("visibility", changes.visibility),
                ("poster_time", changes.poster_time),
            )
            if value is not None
        }
        async with transaction(self._engine) as conn:
            await conn.execute(
                update(videos).where(videos.c.id == video_id).values(updated_at=now, **values)
            )

    async def parts(self, video_id: str) -> tuple[VideoPlan, dict[str, PartOutput]] | None:
        async with reading(self._engine) as conn:
            plan = await conn.scalar(
                select(jobs.c.plan).where(jobs.c.video_id == video_id, jobs.c.part == "")
            )
            if plan is None:
                return None
            rows = await conn.execute(
                select(jobs.c.outputs).where(
                    jobs.c.video_id == video_id, jobs.c.part != "", jobs.c.outputs.is_not(None)
                )
            )
            outputs = [PartOutput.from_json(r.outputs) for r in rows]
        return VideoPlan.from_json(plan), {o.key: o for o in outputs}

    async def delete(self, video_id: str, now: datetime) -> None:
        async with transaction(self._engine) as conn:
            await video_deleted(conn, video_id, now)
            await conn.execute(delete(captions).where(captions.c.video_id == video_id))
            await conn.execute(delete(job_events).where(job_events.c.video_id == video_id))
            await conn.execute(delete(jobs).where(jobs.c.video_id == video_id))
            await conn.execute(
                update(uploads).where(uploads.c.video_id == video_id).values(video_id=None)
            )
            await conn.execute(delete(videos).where(videos.c.id == video_id))


def _with_job() -> Select[Any]:
    """A video's row, with its job's progress and published epoch."""
    chunked = jobs.c.plan.is_not(None).label("chunked")
    return select(videos, jobs.c.progress, jobs.c.published_epoch, chunked).select_from(
        videos.outerjoin(jobs, own_job())
    )


def video_values(video: Video) -> dict[str, Any]:
    """The columns of a new video's row."""
    values = {column.name: getattr(video, column.name) for column in videos.columns}
    values["warnings"] = list(video.warnings)
    return values


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
        chunked=bool(row["chunked"]),
        warnings=tuple(row["warnings"] or ()),
        poster_time=row["poster_time"],
        cover_time=row["cover_time"],
        receipt=row["receipt"],
    )


def storable(id_: str) -> bool:
    """Whether a row could have this id: PostgreSQL text cannot hold a NUL, so an id with
    one names nothing, and sent in a query it would fail the query."""
    return "\x00" not in id_


async def read_video(conn: AsyncConnection, video_id: str) -> Video | None:
    """The video as ``get`` reads it, inside the caller's transaction."""
    row = (await conn.execute(_with_job().where(videos.c.id == video_id))).mappings().first()
    return None if row is None else _video(row)
