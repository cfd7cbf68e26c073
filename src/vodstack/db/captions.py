"""The SQL behind videos' captions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.db.session import reading, transaction
from vodstack.db.tables import captions, videos
from vodstack.domain.captions import Caption, CaptionOrigin


class SqlCaptionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, caption: Caption) -> bool:
        async with transaction(self._engine) as conn:
            if not await _touch(conn, caption.video_id, caption.created_at):
                return False
            await conn.execute(insert(captions).values(**caption_values(caption)))
        return True

    async def list(self, video_id: str) -> list[Caption]:
        if not _storable(video_id):
            return []
        async with reading(self._engine) as conn:
            rows = await conn.execute(
                select(captions)
                .where(captions.c.video_id == video_id)
                .order_by(captions.c.created_at, captions.c.id)
            )
            return [_caption(r) for r in rows.mappings()]

    async def remove(self, video_id: str, caption_id: str, now: datetime) -> bool:
        if not (_storable(video_id) and _storable(caption_id)):
            return False
        async with transaction(self._engine) as conn:
            removed = await conn.execute(
                delete(captions).where(captions.c.video_id == video_id, captions.c.id == caption_id)
            )
            if removed.rowcount != 1:
                return False
            await _touch(conn, video_id, now)
        return True


async def replace_source_captions(
    conn: AsyncConnection, video_id: str, found: Sequence[Caption], now: datetime
) -> None:
    """Inside the lease holder's transaction: the source's tracks, as this attempt found
    them."""
    await conn.execute(
        delete(captions).where(
            captions.c.video_id == video_id, captions.c.origin == CaptionOrigin.SOURCE
        )
    )
    for caption in found:
        await conn.execute(insert(captions).values(**caption_values(caption)))
    await _touch(conn, video_id, now)


async def _touch(conn: AsyncConnection, video_id: str, now: datetime) -> bool:
    touched = await conn.execute(
        update(videos).where(videos.c.id == video_id).values(updated_at=now)
    )
    return bool(touched.rowcount == 1)


def _storable(id_: str) -> bool:
    # As ``db.videos.storable`` (which imports the job store, which imports this).
    return "\x00" not in id_


def caption_values(caption: Caption) -> dict[str, Any]:
    return {
        "id": caption.id,
        "video_id": caption.video_id,
        "language": caption.language,
        "name": caption.name,
        "origin": caption.origin.value,
        "created_at": caption.created_at,
    }


def _caption(row: RowMapping) -> Caption:
    return Caption(
        id=row["id"],
        video_id=row["video_id"],
        language=row["language"],
        name=row["name"],
        origin=CaptionOrigin(row["origin"]),
        created_at=row["created_at"],
    )
