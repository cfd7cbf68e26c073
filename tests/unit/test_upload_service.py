"""The upload service on the in-memory stores and storage: the paths HTTP tests cannot
reach easily, and who may touch an upload."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.queue_memory import MemoryQueue
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.domain.accounts import ANONYMOUS, System, User
from vodstack.domain.jobs import JobStatus
from vodstack.domain.uploads import PartETag
from vodstack.ports import Stores
from vodstack.services.uploads import NewUpload, UploadService
from vodstack.settings import MiB, Settings

DATA = bytes(range(256)) * (7 * MiB // 256)  # two parts at 5 MiB
OWNER = User("1" * 32, "owner", is_admin=False)
OTHER = User("2" * 32, "other", is_admin=False)
ADMIN = User("3" * 32, "admin", is_admin=True)
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class World:
    uploads: UploadService
    storage: MemoryStorage
    stores: Stores
    queue: MemoryQueue
    now: list[datetime]


@pytest.fixture
async def world() -> World:
    stores = memory_stores()
    for n, user in enumerate((OWNER, OTHER, ADMIN)):
        await stores.accounts.create_user(user, f"{n:016x}", "hash", START)
    # No data dir is touched: the in-memory storage signs parts with its own key.
    settings = Settings(part_size=5 * MiB, abandoned_upload_hours=24, _env_file=None)
    storage = MemoryStorage(PartSigner(b"k", "http://testserver"))
    queue = MemoryQueue()
    now = [START]
    uploads = UploadService(stores.uploads, stores.videos, storage, settings, queue, lambda: now[0])
    return World(uploads, storage, stores, queue, now)


async def _send(world: World, upload_id: str) -> list[PartETag]:
    presigned = await world.uploads.presign(upload_id, [1, 2], OWNER)
    parts = []
    for n, request in presigned:
        query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        data = DATA[(n - 1) * 5 * MiB : n * 5 * MiB]

        async def body(data: bytes = data) -> AsyncIterator[bytes]:
            yield data

        stored = await world.storage.receive_part(
            upload_id=urlparse(request.url).path.split("/")[-2],
            part_number=n,
            max_size=int(query["max_size"]),
            expires=int(query["expires"]),
            signature=query["signature"],
            body=body(),
        )
        parts.append(PartETag(n, stored.etag))
    return parts


async def test_completion_survives_a_crash_between_storage_and_database(world: World) -> None:
    """Storage joined the parts but the database never heard: completing again finishes it."""
    upload = await world.uploads.create(NewUpload("clip.mp4", len(DATA)), OWNER)
    parts = await _send(world, upload.id)
    await world.storage.complete_multipart(upload.storage_key, upload.storage_upload_id, parts)

    video = await world.uploads.complete(upload.id, parts, OWNER)
    assert video.status == "queued"
    assert (
        hashlib.sha256(world.storage.objects[upload.storage_key]).digest()
        == hashlib.sha256(DATA).digest()
    )


async def test_concurrent_completions_queue_one_job(world: World) -> None:
    upload = await world.uploads.create(NewUpload("clip.mp4", len(DATA)), OWNER)
    parts = await _send(world, upload.id)
    results = await asyncio.gather(
        *(world.uploads.complete(upload.id, parts, OWNER) for _ in range(4))
    )
    assert {v.status for v in results} == {"queued"}
    assert len(await world.stores.videos.list(ADMIN)) == 1
    assert (await world.stores.jobs.counts()).by_status[JobStatus.QUEUED] == 1  # exactly one job


async def test_an_upload_whose_storage_vanished_reads_as_aborted(world: World) -> None:
    upload = await world.uploads.create(NewUpload("clip.mp4", len(DATA)), OWNER)
    parts = await _send(world, upload.id)
    await world.storage.abort_multipart(upload.storage_key, upload.storage_upload_id)
    with pytest.raises(errors.UploadAborted, match="no longer holds"):
        await world.uploads.complete(upload.id, parts, OWNER)


async def test_only_the_owner_an_admin_or_the_system_may_touch_an_upload(world: World) -> None:
    upload = await world.uploads.create(NewUpload("clip.mp4", len(DATA)), OWNER)
    for stranger in (OTHER, ANONYMOUS):
        with pytest.raises(errors.UploadNotFound):  # as if it did not exist
            await world.uploads.state(upload.id, stranger)
        with pytest.raises(errors.UploadNotFound):
            await world.uploads.presign(upload.id, [1], stranger)
        with pytest.raises(errors.UploadNotFound):
            await world.uploads.abort(upload.id, stranger)
    for manager in (OWNER, ADMIN, System("test")):
        assert (await world.uploads.state(upload.id, manager)).upload.id == upload.id
    assert (await world.uploads.state(upload.id, OWNER)).upload.status == "active"


async def test_uploads_abandoned_for_too_long_are_aborted(world: World) -> None:
    uploads, storage = world.uploads, world.storage
    old = await uploads.create(NewUpload("old.mp4", len(DATA)), OWNER)
    parts = await _send(world, old.id)
    world.now[0] += timedelta(hours=20)
    recent = await uploads.create(NewUpload("recent.mp4", len(DATA)), OWNER)
    finished = await uploads.create(NewUpload("finished.mp4", len(DATA)), OWNER)
    await uploads.complete(finished.id, await _send(world, finished.id), OWNER)
    assert world.queue.pending() == 1  # the completed upload's job was announced
    world.now[0] += timedelta(hours=5)

    assert await uploads.abort_abandoned() == 1
    assert (await uploads.state(old.id, OWNER)).upload.status == "aborted"
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.list_parts(old.storage_key, old.storage_upload_id)
    with pytest.raises(errors.UploadAborted):
        await uploads.complete(old.id, parts, OWNER)
    assert (await uploads.state(recent.id, OWNER)).upload.status == "active"
    assert (await uploads.state(finished.id, OWNER)).upload.status == "completed"
    assert await uploads.abort_abandoned() == 0
