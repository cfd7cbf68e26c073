"""One contract, every upload store: the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.conftest import FakeClock
from tests.support.db import new_video
from vodstack.domain.uploads import StoredPart, UploadStatus
from vodstack.domain.videos import VideoStatus
from vodstack.ports import Stores

PARTS = [StoredPart(1, "a" * 32, 5 * 1024 * 1024), StoredPart(2, "b" * 32, 1)]


async def test_an_upload_and_its_video_are_created_together(
    stores: Stores, clock: FakeClock
) -> None:
    video, upload = new_video(clock.now, owner_id=None)
    await stores.uploads.create(video, upload)
    assert await stores.uploads.get(upload.id) == upload
    assert await stores.jobs.state_of(video.id) == (True, None)  # no job before completion
    found = await stores.videos.get(video.id)
    assert found is not None
    assert (found.status, found.title, found.progress, found.published_epoch) == (
        VideoStatus.UPLOADING,
        "t",
        0.0,
        None,
    )
    assert await stores.uploads.get("0" * 32) is None
    assert await stores.uploads.get("a\x00b") is None  # no row could have that id


async def test_completing_queues_the_job_once(stores: Stores, clock: FakeClock) -> None:
    video, upload = new_video(clock.now)
    await stores.uploads.create(video, upload)
    assert await stores.uploads.complete(upload, PARTS, 4, clock.now, "00-trace-01")
    assert not await stores.uploads.complete(upload, PARTS, 4, clock.now)  # once only
    stored = await stores.uploads.get(upload.id)
    assert stored is not None
    assert stored.status is UploadStatus.COMPLETED
    assert await stores.uploads.completed_parts(upload.id) == PARTS
    queued = await stores.videos.get(video.id)
    assert queued is not None
    assert queued.status is VideoStatus.QUEUED
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert (lease.video_id, lease.max_attempts, lease.trace_context) == (
        video.id,
        4,
        "00-trace-01",
    )
    events = await stores.jobs.events(video.id)
    assert (events[0].kind, events[0].reason) == ("queued", "upload completed")


async def test_aborting_forgets_the_video_and_cannot_be_completed(
    stores: Stores, clock: FakeClock
) -> None:
    video, upload = new_video(clock.now)
    await stores.uploads.create(video, upload)
    assert await stores.uploads.abort(upload, clock.now)
    assert not await stores.uploads.abort(upload, clock.now)
    assert not await stores.uploads.complete(upload, PARTS, 3, clock.now)
    stored = await stores.uploads.get(upload.id)
    assert stored is not None
    assert (stored.status, stored.video_id) == (UploadStatus.ABORTED, None)
    assert await stores.videos.get(video.id) is None
    assert await stores.jobs.claim("w") is None


async def test_open_uploads_are_found_by_age_oldest_first(stores: Stores, clock: FakeClock) -> None:
    created = []
    for _ in range(3):
        video, upload = new_video(clock.now)
        await stores.uploads.create(video, upload)
        created.append(upload)
        clock.advance(60)
    await stores.uploads.complete(created[1], PARTS, 3, clock.now)
    cutoff = clock.now - timedelta(seconds=30)
    old = await stores.uploads.active_before(cutoff)
    assert [u.id for u in old] == [created[0].id, created[2].id]
    assert [u.id for u in await stores.uploads.active_before(cutoff, limit=1)] == [created[0].id]
    assert await stores.uploads.active_before(clock.now - timedelta(hours=1)) == []
