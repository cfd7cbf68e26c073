"""One contract, every direct-upload store: a token gets one upload, and is used once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.contract.conftest import FakeClock
from vodstack.domain.accounts import User, Visibility
from vodstack.domain.direct_uploads import DirectUpload
from vodstack.domain.uploads import Upload, UploadStatus
from vodstack.domain.videos import Video, VideoStatus, source_key
from vodstack.ports import Stores

OWNER = User("1" * 32, "owner", False)


@pytest.fixture(autouse=True)
async def users(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(OWNER, "0" * 16, "hash", clock.now)


def _direct(clock: FakeClock, n: int = 0) -> DirectUpload:
    return DirectUpload(
        id=f"{n:032x}",
        owner_id=OWNER.id,
        owner_name=OWNER.name,
        title="a title",
        description="words",
        visibility=Visibility.UNLISTED,
        max_size=5_000,
        created_at=clock.now,
        expires_at=clock.now + timedelta(hours=1),
    )


async def _upload(stores: Stores, clock: FakeClock, n: int) -> Upload:
    video_id, upload_id = f"v{n:031x}", f"u{n:031x}"
    video = Video(
        id=video_id,
        title="t",
        description="",
        filename="a.mp4",
        content_type=None,
        size=10,
        source_key=source_key(video_id),
        status=VideoStatus.UPLOADING,
        created_at=clock.now,
        updated_at=clock.now,
        owner_id=OWNER.id,
    )
    upload = Upload(
        upload_id, video_id, "s", source_key(video_id), 10, 5 << 20, UploadStatus.ACTIVE, OWNER.id
    )
    await stores.uploads.create(video, upload)
    return upload


async def test_a_direct_upload_reads_back_as_written(stores: Stores, clock: FakeClock) -> None:
    direct = _direct(clock)
    await stores.direct_uploads.create(direct)
    assert await stores.direct_uploads.get(direct.id) == direct
    assert await stores.direct_uploads.get("f" * 32) is None


async def test_a_direct_upload_is_claimed_by_one_upload_only(
    stores: Stores, clock: FakeClock
) -> None:
    direct = _direct(clock)
    await stores.direct_uploads.create(direct)
    first, second = await _upload(stores, clock, 1), await _upload(stores, clock, 2)
    claims = await asyncio.gather(
        stores.direct_uploads.claim(direct.id, first.id, "v" + "1".zfill(31)),
        stores.direct_uploads.claim(direct.id, second.id, "v" + "2".zfill(31)),
    )
    assert sorted(claims) == [False, True]
    stored = await stores.direct_uploads.get(direct.id)
    assert stored is not None
    assert stored.upload_id in (first.id, second.id)
    assert stored.video_id == (first if claims[0] else second).video_id
    assert not await stores.direct_uploads.claim("f" * 32, first.id, "x")


async def test_a_direct_upload_is_used_once(stores: Stores, clock: FakeClock) -> None:
    direct = _direct(clock)
    await stores.direct_uploads.create(direct)
    assert await stores.direct_uploads.finish(direct.id, clock.now)
    clock.advance(5)
    assert not await stores.direct_uploads.finish(direct.id, clock.now)
    stored = await stores.direct_uploads.get(direct.id)
    assert stored is not None
    assert stored.used_at == clock.now - timedelta(seconds=5)
