"""One contract, every video store: the in-memory twin, SQLite and PostgreSQL. Who sees
which video in a listing is decided here, so every backend is asked as every actor."""

from __future__ import annotations

import pytest

from tests.contract.conftest import FakeClock
from tests.support.db import add_queued_video
from vodstack import errors
from vodstack.domain.accounts import ANONYMOUS, System, User, Visibility
from vodstack.domain.videos import VideoChanges
from vodstack.ports import Stores

OWNER = User("1" * 32, "owner", False)
OTHER = User("2" * 32, "other", False)
ADMIN = User("3" * 32, "admin", True)


@pytest.fixture(autouse=True)
async def users(stores: Stores, clock: FakeClock) -> None:
    for n, user in enumerate((OWNER, OTHER, ADMIN)):
        await stores.accounts.create_user(user, f"{n:016x}", "hash", clock.now)


async def _publish(stores: Stores, video_id: str) -> None:
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.publish(lease, [], 1.0, "libx264")


async def test_each_actor_lists_what_it_may_see_newest_first(
    stores: Stores, clock: FakeClock
) -> None:
    ready_public = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    await _publish(stores, ready_public)
    clock.advance(1)
    queued_public = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    clock.advance(1)
    private = await add_queued_video(
        stores, clock.now, owner_id=OWNER.id, visibility=Visibility.PRIVATE
    )
    await _publish(stores, private)
    clock.advance(1)
    others = await add_queued_video(stores, clock.now, owner_id=OTHER.id)

    async def listed(actor: User | object) -> list[str]:
        return [v.id for v in await stores.videos.list(actor, 100)]  # type: ignore[arg-type]

    everything = [others, private, queued_public, ready_public]
    assert await listed(ADMIN) == everything
    assert await listed(System("test")) == everything
    assert await listed(OWNER) == [private, queued_public, ready_public]
    assert await listed(OTHER) == [others]
    assert await listed(ANONYMOUS) == [ready_public]
    assert [v.id for v in await stores.videos.list(ADMIN, 2)] == everything[:2]


async def test_changes_touch_only_the_fields_given(stores: Stores, clock: FakeClock) -> None:
    video_id = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    clock.advance(5)
    await stores.videos.update(video_id, VideoChanges(title="New"), clock.now)
    await stores.videos.update(video_id, VideoChanges(visibility=Visibility.UNLISTED), clock.now)
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.title, video.description, video.visibility) == ("New", "", "unlisted")
    assert video.updated_at == clock.now


async def test_deleting_a_video_takes_its_job_and_timeline(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    kept = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    await stores.videos.delete(video_id, clock.now)
    assert await stores.videos.get(video_id) is None
    assert await stores.jobs.events(video_id) == []
    assert await stores.jobs.view(video_id) is None
    assert not await stores.jobs.heartbeat(lease, 0.5)  # the worker loses its lease
    assert not await stores.jobs.publish(lease, [], 1.0, "libx264")
    assert await stores.videos.get(kept) is not None
    assert len(await stores.jobs.events(kept)) == 1


async def test_a_video_needs_an_owner_that_exists(stores: Stores, clock: FakeClock) -> None:
    with pytest.raises(errors.Conflict):
        await add_queued_video(stores, clock.now, owner_id="9" * 32)
