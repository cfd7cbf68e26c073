"""Videos put in the stores the way the upload service does it, for the tests of the
stores and the worker: through the store protocols, so they work on every backend."""

from __future__ import annotations

import uuid
from datetime import datetime

from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.clock import utc_now
from vodstack.domain.accounts import Visibility
from vodstack.domain.uploads import StoredPart, Upload, UploadStatus
from vodstack.domain.videos import Video, VideoStatus, source_key
from vodstack.ports import Stores


def new_video(
    now: datetime,
    owner_id: str | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    title: str = "t",
) -> tuple[Video, Upload]:
    """A video being uploaded, and its upload."""
    video_id = uuid.uuid4().hex
    video = Video(
        id=video_id,
        title=title,
        description="",
        filename="f.mp4",
        content_type="video/mp4",
        size=1,
        source_key=source_key(video_id),
        status=VideoStatus.UPLOADING,
        created_at=now,
        updated_at=now,
        owner_id=owner_id,
        visibility=visibility,
    )
    upload = Upload(
        id=uuid.uuid4().hex,
        video_id=video_id,
        storage_upload_id="multipart-1",
        storage_key=video.source_key,
        size=1,
        part_size=5 * 1024 * 1024,
        status=UploadStatus.ACTIVE,
        owner_id=owner_id,
    )
    return video, upload


async def add_queued_video(
    stores: Stores,
    now: datetime,
    max_attempts: int = 3,
    owner_id: str | None = None,
    visibility: Visibility = Visibility.PUBLIC,
) -> str:
    """A video whose upload completed: its record and its queued job."""
    video, upload = new_video(now, owner_id, visibility)
    await stores.uploads.create(video, upload)
    assert await stores.uploads.complete(upload, [StoredPart(1, "e" * 32, 1)], max_attempts, now)
    return video.id


async def add_video(stores: Stores, storage: MemoryStorage, max_attempts: int = 3) -> str:
    """A queued video whose source (its own id, which test transcoders read) is stored."""
    video_id = await add_queued_video(stores, utc_now(), max_attempts)
    storage.objects[source_key(video_id)] = video_id.encode()
    return video_id
