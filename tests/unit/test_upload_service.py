"""The upload service on the in-memory storage: the paths HTTP tests cannot reach easily."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate
from vodstack.db.uploads import UploadStore, VideoQueries
from vodstack.domain.accounts import User
from vodstack.domain.uploads import PartETag
from vodstack.services.uploads import NewUpload, UploadService
from vodstack.settings import MiB, Settings

DATA = bytes(range(256)) * (7 * MiB // 256)  # two parts at 5 MiB


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[UploadService, MemoryStorage]]:
    settings = Settings(data_dir=tmp_path, part_size=5 * MiB, _env_file=None)
    engine = create_engine(settings.database_url)
    await migrate(engine)
    storage = MemoryStorage(PartSigner(b"k", "http://testserver"))
    yield UploadService(UploadStore(engine), VideoQueries(engine), storage, settings), storage
    await engine.dispose()


async def _send(service: UploadService, storage: MemoryStorage, upload_id: str) -> list[PartETag]:
    presigned = await service.presign(upload_id, [1, 2])
    parts = []
    for n, request in presigned:
        query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        data = DATA[(n - 1) * 5 * MiB : n * 5 * MiB]

        async def body(data: bytes = data) -> AsyncIterator[bytes]:
            yield data

        stored = await storage.receive_part(
            upload_id=_storage_id(request.url),
            part_number=n,
            max_size=int(query["max_size"]),
            expires=int(query["expires"]),
            signature=query["signature"],
            body=body(),
        )
        parts.append(PartETag(n, stored.etag))
    return parts


def _storage_id(url: str) -> str:
    return urlparse(url).path.split("/")[-2]


async def test_completion_survives_a_crash_between_storage_and_database(
    service: tuple[UploadService, MemoryStorage],
) -> None:
    """Storage joined the parts but the database never heard: completing again finishes it."""
    uploads, storage = service
    upload = await uploads.create(NewUpload("clip.mp4", len(DATA)))
    parts = await _send(uploads, storage, upload.id)
    await storage.complete_multipart(upload.storage_key, upload.storage_upload_id, parts)

    video = await uploads.complete(upload.id, parts)
    assert video.status == "queued"
    assert (
        hashlib.sha256(storage.objects[upload.storage_key]).digest()
        == hashlib.sha256(DATA).digest()
    )


async def test_concurrent_completions_queue_one_job(
    service: tuple[UploadService, MemoryStorage],
) -> None:
    uploads, storage = service
    videos = uploads._videos
    upload = await uploads.create(NewUpload("clip.mp4", len(DATA)))
    parts = await _send(uploads, storage, upload.id)
    results = await asyncio.gather(*(uploads.complete(upload.id, parts) for _ in range(4)))
    assert {v.status for v in results} == {"queued"}
    admin = User("a" * 32, "admin", is_admin=True)
    assert len(await videos.list(caller=admin)) == 1  # one video, joined to exactly one job


async def test_an_upload_whose_storage_vanished_reads_as_aborted(
    service: tuple[UploadService, MemoryStorage],
) -> None:
    uploads, storage = service
    upload = await uploads.create(NewUpload("clip.mp4", len(DATA)))
    parts = await _send(uploads, storage, upload.id)
    await storage.abort_multipart(upload.storage_key, upload.storage_upload_id)
    with pytest.raises(errors.UploadAborted, match="no longer holds"):
        await uploads.complete(upload.id, parts)


async def test_uploads_abandoned_for_too_long_are_aborted(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from vodstack.adapters.queue_memory import MemoryQueue

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    settings = Settings(
        data_dir=tmp_path, part_size=5 * MiB, abandoned_upload_hours=24, _env_file=None
    )
    engine = create_engine(settings.database_url)
    await migrate(engine)
    storage = MemoryStorage(PartSigner(b"k", "http://testserver"))
    queue = MemoryQueue()
    service = UploadService(
        UploadStore(engine), VideoQueries(engine), storage, settings, queue, lambda: now[0]
    )
    old = await service.create(NewUpload("old.mp4", len(DATA)))
    parts = await _send(service, storage, old.id)
    now[0] += timedelta(hours=20)
    recent = await service.create(NewUpload("recent.mp4", len(DATA)))
    finished = await service.create(NewUpload("finished.mp4", len(DATA)))
    await service.complete(finished.id, await _send(service, storage, finished.id))
    assert queue.pending() == 1  # the completed upload's job was announced
    now[0] += timedelta(hours=5)

    assert await service.abort_abandoned() == 1
    assert (await service.state(old.id)).upload.status == "aborted"
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.list_parts(old.storage_key, old.storage_upload_id)
    with pytest.raises(errors.UploadAborted):
        await service.complete(old.id, parts)
    assert (await service.state(recent.id)).upload.status == "active"
    assert (await service.state(finished.id)).upload.status == "completed"
    assert await service.abort_abandoned() == 0
    await engine.dispose()
