"""The SQL behind direct uploads."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.db.session import reading, transaction
from vodstack.db.tables import direct_uploads
from vodstack.domain.accounts import Visibility
from vodstack.domain.direct_uploads import DirectUpload


class SqlDirectUploadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, direct: DirectUpload) -> None:
        values = dataclasses.asdict(direct)
        values["visibility"] = direct.visibility.value
        async with transaction(self._engine) as conn:
            await conn.execute(insert(direct_uploads).values(**values))

    async def get(self, direct_id: str) -> DirectUpload | None:
        async with reading(self._engine) as conn:
            row = (
                (await conn.execute(select(direct_uploads).where(direct_uploads.c.id == direct_id)))
                .mappings()
                .first()
            )
        return None if row is None else _direct(row)

    async def claim(self, direct_id: str, upload_id: str, video_id: str) -> bool:
        # Guarded, so that of two concurrent creates exactly one wins.
        async with transaction(self._engine) as conn:
            result = await conn.execute(
                update(direct_uploads)
                .where(direct_uploads.c.id == direct_id, direct_uploads.c.upload_id.is_(None))
                .values(upload_id=upload_id, video_id=video_id)
            )
        return result.rowcount == 1

    async def finish(self, direct_id: str, now: datetime) -> bool:
        async with transaction(self._engine) as conn:
            result = await conn.execute(
                update(direct_uploads)
                .where(direct_uploads.c.id == direct_id, direct_uploads.c.used_at.is_(None))
                .values(used_at=now)
            )
        return result.rowcount == 1


def _direct(row: RowMapping) -> DirectUpload:
    return DirectUpload(
        id=row["id"],
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        title=row["title"],
        description=row["description"],
        visibility=Visibility(row["visibility"]),
        max_size=row["max_size"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        upload_id=row["upload_id"],
        video_id=row["video_id"],
        used_at=row["used_at"],
    )
