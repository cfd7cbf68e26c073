"""The direct-upload service on the in-memory stores: what HTTP tests reach only by luck
(a lost race for the one upload), and who may make and describe a direct upload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.domain.accounts import ANONYMOUS, Scope, User, Visibility
from vodstack.ports import Stores
from vodstack.services.direct_uploads import DirectUploadService, NewDirectUpload
from vodstack.services.uploads import NewUpload, UploadService
from vodstack.settings import MiB, Settings

OWNER = User("1" * 32, "owner", is_admin=False)
START = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32


@dataclass
class World:
    direct: DirectUploadService
    stores: Stores
    now: list[datetime]


@pytest.fixture
async def world() -> World:
    stores = memory_stores()
    await stores.accounts.create_user(OWNER, "0" * 16, "hash", START)
    settings = Settings(part_size=5 * MiB, public_url="https://vod.example.com", _env_file=None)
    storage = MemoryStorage(PartSigner(b"k", "http://testserver"))
    now = [START]
    uploads = UploadService(stores.uploads, stores.videos, storage, settings, None, lambda: now[0])
    direct = DirectUploadService(stores.direct_uploads, uploads, settings, KEY, lambda: now[0])
    return World(direct, stores, now)


async def test_a_link_names_the_upload_page_with_its_token(world: World) -> None:
    issued = await world.direct.create(NewDirectUpload(title="  "), OWNER)
    assert issued.upload_url == f"https://vod.example.com/upload#direct={issued.token}"
    assert issued.direct.title is None
    assert issued.direct.expires_at == START + timedelta(hours=1)
    holder = await world.direct.resolve(issued.token)
    assert world.direct.describe(holder) == issued.direct


async def test_only_a_key_with_the_upload_scope_makes_a_link(world: World) -> None:
    reader = User(OWNER.id, OWNER.name, False, frozenset({Scope.READ}))
    with pytest.raises(errors.Forbidden):
        await world.direct.create(NewDirectUpload(), reader)
    with pytest.raises(errors.Unauthorized):
        await world.direct.create(NewDirectUpload(), ANONYMOUS)
    with pytest.raises(errors.Forbidden):
        world.direct.describe(OWNER)


async def test_the_link_decides_what_the_video_is(world: World) -> None:
    made = NewDirectUpload(title="Set", description="by link", visibility=Visibility.PRIVATE)
    holder = await world.direct.resolve((await world.direct.create(made, OWNER)).token)
    asked = NewUpload("a.mp4", 10, title="mine", visibility=Visibility.PUBLIC)
    upload = await world.direct.create_upload(asked, holder)
    assert upload.owner_id == OWNER.id
    video = await world.stores.videos.get(upload.video_id or "")
    assert video is not None
    assert (video.title, video.description, video.visibility) == (
        "Set",
        "by link",
        Visibility.PRIVATE,
    )


async def test_a_lost_race_for_the_one_upload_aborts_the_loser(world: World) -> None:
    holder = await world.direct.resolve((await world.direct.create(NewDirectUpload(), OWNER)).token)
    # Another request claimed the direct upload after this one resolved its token.
    assert await world.stores.direct_uploads.claim(holder.direct.id, "x" * 32, "y" * 32)
    with pytest.raises(errors.DirectUploadTaken):
        await world.direct.create_upload(NewUpload("a.mp4", 10), holder)
    # The upload it had started is aborted: nobody will complete it.
    assert await world.stores.uploads.active_before(START + timedelta(days=1)) == []


async def test_the_token_expires_with_its_direct_upload(world: World) -> None:
    issued = await world.direct.create(NewDirectUpload(expires_in=60), OWNER)
    world.now[0] = START + timedelta(seconds=60)
    with pytest.raises(errors.Unauthorized, match="expired"):
        await world.direct.resolve(issued.token)
