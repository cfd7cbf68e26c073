"""One contract, every job and video store: what a storage check reads (the attempts in
flight, every ready video a page at a time) and how it puts a damaged video back in the
queue: a whole video, or a split video's parts, under the usual lease rules."""

from __future__ import annotations

from tests.contract.conftest import FakeClock
from tests.support.db import add_queued_video
from tests.support.parts import part_output, split_plan
from vodstack.domain.jobs import JobStatus, Lease
from vodstack.domain.videos import Video, VideoStatus
from vodstack.ports import Stores

PLAN = split_plan()


async def _ready(stores: Stores, clock: FakeClock) -> tuple[str, Lease]:
    video_id = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.publish(lease, [{"name": "720p"}], 2.0, "libx264")
    return video_id, lease


async def _ready_split(stores: Stores, clock: FakeClock) -> tuple[str, Lease]:
    video_id = await add_queued_video(stores, clock.now)
    parent = await stores.jobs.claim("planner", video_id)
    assert parent is not None
    assert await stores.jobs.split(parent, PLAN)
    while (lease := await stores.jobs.claim("w", video_id)) is not None:
        assert lease.part is not None
        assert await stores.jobs.publish_part(lease, part_output(PLAN, lease.part))
    return video_id, parent


async def _video(stores: Stores, video_id: str) -> Video:
    video = await stores.videos.get(video_id)
    assert video is not None
    return video


async def test_in_flight_names_the_attempts_being_worked_on(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    assert await stores.jobs.in_flight(video_id) == []
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.in_flight(video_id) == [("", lease.epoch)]
    clock.advance(3600)  # its lease ran out, but no one took the job over yet
    assert await stores.jobs.in_flight(video_id) == [("", lease.epoch)]
    again = await stores.jobs.claim("other", video_id)
    assert again is not None
    assert again.epoch == lease.epoch + 1
    assert await stores.jobs.in_flight(video_id) == [("", again.epoch)]
    assert await stores.jobs.split(again, PLAN)
    assert await stores.jobs.in_flight(video_id) == []
    first = await stores.jobs.claim("w", video_id)
    audio = await stores.jobs.claim("w", video_id)
    assert first is not None
    assert audio is not None
    assert await stores.jobs.in_flight(video_id) == sorted(
        [(str(first.part), first.epoch), (str(audio.part), audio.epoch)]
    )
    assert await stores.jobs.in_flight("no-such-video") == []


async def test_a_ready_video_is_encoded_again_whole(stores: Stores, clock: FakeClock) -> None:
    video_id, lease = await _ready(stores, clock)
    assert await stores.jobs.reencode(video_id, (), "storage lost its files") == 1
    video = await _video(stores, video_id)
    assert video.status is VideoStatus.QUEUED
    view = await stores.jobs.view(video_id)
    assert view is not None
    assert (view.state.status, view.state.attempts) == (JobStatus.QUEUED, 0)
    events = await stores.jobs.events(video_id)
    assert (events[-1].kind, events[-1].reason) == ("reencoded", "storage lost its files")
    assert await stores.jobs.reencode(video_id, (), "again") == 0, "only a ready video"
    again = await stores.jobs.claim("w", video_id)
    assert again is not None
    assert again.epoch == lease.epoch + 1
    assert not await stores.jobs.publish(lease, [], 1.0, "libx264"), "the old lease stays fenced"
    assert await stores.jobs.publish(again, [{"name": "720p"}], 2.0, "libx264")
    video = await _video(stores, video_id)
    assert (video.status, video.published_epoch) == (VideoStatus.READY, again.epoch)


async def test_a_split_video_is_encoded_again_in_the_parts_named(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, parent = await _ready_split(stores, clock)
    assert (await _video(stores, video_id)).status is VideoStatus.READY
    assert await stores.jobs.reencode(video_id, ["c1t2", "no-such-part"], "lost a segment") == 1
    video = await _video(stores, video_id)
    # Its tier 1 is whole: it still plays, without the rung that lost a part.
    assert video.status is VideoStatus.PLAYABLE
    assert video.published_epoch == parent.epoch
    found = await stores.videos.parts(video_id)
    assert found is not None
    assert "c1t2" not in found[1]
    assert "c0t2" in found[1]
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert (lease.part, lease.epoch, lease.attempts) == ("c1t2", 2, 1)
    assert await stores.jobs.claim("w", video_id) is None, "only that part"
    assert await stores.jobs.publish_part(lease, part_output(PLAN, "c1t2", attempt=2))
    video = await _video(stores, video_id)
    assert video.status is VideoStatus.READY
    events = [e.kind for e in await stores.jobs.events(video_id)]
    assert "reopened" in events
    # Every part, when none is named.
    assert await stores.jobs.reencode(video_id, (), "lost everything") == len(PLAN.parts)
    assert (await _video(stores, video_id)).status is VideoStatus.PROCESSING


async def test_only_a_ready_video_is_encoded_again(stores: Stores, clock: FakeClock) -> None:
    queued = await add_queued_video(stores, clock.now)
    assert await stores.jobs.reencode(queued, (), "x") == 0
    assert await stores.jobs.reencode("no-such-video", (), "x") == 0
    assert (await _video(stores, queued)).status is VideoStatus.QUEUED


async def test_ready_videos_come_a_page_at_a_time_by_id(stores: Stores, clock: FakeClock) -> None:
    ready = sorted([(await _ready(stores, clock))[0] for _ in range(3)])
    await add_queued_video(stores, clock.now)  # not ready: never listed
    first = await stores.videos.ready_after("", 2)
    assert [v.id for v in first] == ready[:2]
    assert first[0].published_epoch == 1
    rest = await stores.videos.ready_after(first[-1].id, 2)
    assert [v.id for v in rest] == ready[2:]
    assert await stores.videos.ready_after(ready[-1], 2) == []
