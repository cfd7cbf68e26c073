"""One contract for split jobs, on every job store: a video's job becomes parts that are
leased and fenced like any job, claimed lowest rank first; the video plays from its first
chunk and is ready when every part is in; one part failing for good fails the video, and a
retry takes up only what failed."""

from __future__ import annotations

from tests.contract.conftest import LEASE, FakeClock
from tests.support.db import add_queued_video
from tests.support.parts import part_output, split_plan
from vodstack.domain.jobs import JobStatus, Lease
from vodstack.domain.videos import VideoStatus
from vodstack.ports import Stores

PLAN = split_plan()  # c0t1, audio, c1t1, c2t1, then c2t2, c1t2, c0t2


async def _split(stores: Stores, clock: FakeClock) -> tuple[str, Lease]:
    video_id = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("planner")
    assert lease is not None
    assert await stores.jobs.split(lease, PLAN)
    return video_id, lease


async def _claim_all(stores: Stores) -> dict[str, Lease]:
    leases: dict[str, Lease] = {}
    while (lease := await stores.jobs.claim("w")) is not None:
        assert lease.part is not None
        leases[lease.part] = lease
    return leases


async def test_parts_are_jobs_claimed_lowest_rank_first_and_new_videos_go_first(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, parent = await _split(stores, clock)
    assert not await stores.jobs.split(parent, PLAN), "split once only"
    view = await stores.jobs.view(video_id)
    assert view is not None
    assert view.state.status is JobStatus.SPLIT
    first = await stores.jobs.claim("w")
    assert first is not None
    assert (first.part, first.parent_id, first.plan) == ("c0t1", parent.job_id, PLAN)
    assert (first.output_epoch, first.epoch, first.video_id) == (parent.epoch, 1, video_id)
    clock.advance(1)
    newer = await add_queued_video(stores, clock.now)
    # A new video's own job goes before the rest of the older one, even its audio.
    taken = await stores.jobs.claim("w")
    assert taken is not None
    assert (taken.video_id, taken.part) == (newer, None)
    audio = await stores.jobs.claim("w")
    assert audio is not None
    assert audio.part == "audio"
    rest = [lease.part for lease in (await _claim_all(stores)).values()]
    assert rest == ["c1t1", "c2t1", "c2t2", "c1t2", "c0t2"]
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.chunked) == (VideoStatus.PROCESSING, True)


async def test_the_video_plays_from_its_first_chunk_and_is_ready_with_every_part(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, parent = await _split(stores, clock)
    leases = await _claim_all(stores)
    jobs = stores.jobs
    assert await jobs.publish_part(leases["c0t1"], part_output(PLAN, "c0t1"))
    assert (await _video(stores, video_id)).status is VideoStatus.PROCESSING, "no audio yet"
    assert await jobs.publish_part(leases["audio"], part_output(PLAN, "audio", segments=1))
    playable = await _video(stores, video_id)
    assert playable.status is VideoStatus.PLAYABLE
    assert [r["name"] for r in playable.renditions] == ["480p", "240p"]
    assert playable.published_epoch == parent.epoch
    assert not await jobs.publish_part(leases["c0t1"], part_output(PLAN, "c0t1")), "once"
    for key in ("audio", "c1t1", "c2t1", "c0t2", "c1t2"):
        assert await jobs.publish_part(leases[key], part_output(PLAN, key))
    assert (await _video(stores, video_id)).status is VideoStatus.PLAYABLE
    assert await jobs.publish_part(leases["c2t2"], part_output(PLAN, "c2t2"))
    ready = await _video(stores, video_id)
    assert ready.status is VideoStatus.READY
    assert {r["name"] for r in ready.renditions} == {"1080p", "720p", "480p", "240p"}
    assert ready.duration == PLAN.duration
    view = await jobs.view(video_id)
    assert view is not None
    assert (view.state.status, view.progress) == (JobStatus.READY, 1.0)
    found = await stores.videos.parts(video_id)
    assert found is not None
    assert found[0] == PLAN
    assert set(found[1]) == {p.key for p in PLAN.parts}
    kinds = [e.kind for e in await jobs.events(video_id)]
    assert kinds[:3] == ["queued", "claimed", "split"]
    assert kinds.count("claimed") == 1 + len(PLAN.parts)
    assert kinds.count("ready") == len(PLAN.parts)
    assert kinds.count("playable") == 1
    assert kinds[-1] == "assembled"


async def test_an_expired_part_is_taken_over_and_its_old_holder_fenced_out(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, _ = await _split(stores, clock)
    old = await stores.jobs.claim("a")
    assert old is not None
    clock.advance(LEASE + 1)
    new = await stores.jobs.claim("b")
    assert new is not None
    assert (new.part, new.epoch, new.attempts) == (old.part, 2, 2)
    assert not await stores.jobs.heartbeat(old, 0.5)
    assert not await stores.jobs.publish_part(old, part_output(PLAN, "c0t1", attempt=1))
    assert await stores.jobs.publish_part(new, part_output(PLAN, "c0t1", attempt=2))
    found = await stores.videos.parts(video_id)
    assert found is not None
    assert found[1]["c0t1"].rungs[0].folder == "c0a2"


async def test_a_part_warns_its_video_fenced_by_its_own_lease(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, parent = await _split(stores, clock)
    old = await stores.jobs.claim("a")
    assert old is not None
    assert not await stores.jobs.warn(parent, ["the planner's lease is spent"])
    assert await stores.jobs.warn(old, ["6-12 s: 0.9 s of 6 s could be decoded"])
    assert (await _video(stores, video_id)).warnings == ("6-12 s: 0.9 s of 6 s could be decoded",)
    clock.advance(LEASE + 1)
    new = await stores.jobs.claim("b")
    assert new is not None
    assert not await stores.jobs.warn(old, [])
    assert await stores.jobs.warn(new, [])
    assert (await _video(stores, video_id)).warnings == ()
    last = (await stores.jobs.events(video_id))[-1]
    assert (last.kind, last.worker, last.epoch) == ("warned", "b", 2)


async def test_the_audio_so_far_is_listed_and_never_shrinks_under_a_new_attempt(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, _ = await _split(stores, clock)
    leases = await _claim_all(stores)
    assert await stores.jobs.publish_part(leases["audio"], part_output(PLAN, "audio", 1, 3))
    clock.advance(LEASE + 1)
    again = await stores.jobs.claim("b", video_id)
    assert again is not None
    assert again.part == "c0t1"  # every part's lease ran out: the lowest rank comes first
    audio = await stores.jobs.claim("b", video_id)
    assert audio is not None
    assert audio.part == "audio"
    assert await stores.jobs.publish_part(audio, part_output(PLAN, "audio", 2, 1))
    assert await _audio_folder(stores, video_id) == ("a1", 3), "the first attempt's stays"
    assert await stores.jobs.publish_part(audio, part_output(PLAN, "audio", 2, 3))
    assert await _audio_folder(stores, video_id) == ("a2", 3)


async def test_a_part_that_fails_fails_the_video_and_a_retry_takes_up_only_that_part(
    stores: Stores, clock: FakeClock
) -> None:
    video_id, _ = await _split(stores, clock)
    leases = await _claim_all(stores)
    for key in ("c0t1", "audio"):
        assert await stores.jobs.publish_part(leases[key], part_output(PLAN, key))
    assert await stores.jobs.fail(leases["c1t1"], "ffmpeg cannot read 6-18 s")
    failed = await _video(stores, video_id)
    assert failed.status is VideoStatus.FAILED
    assert failed.error == "part c1t1 failed: ffmpeg cannot read 6-18 s"
    assert not await stores.jobs.heartbeat(leases["c2t1"], 0.5), "the others stop"
    assert not await stores.jobs.publish_part(leases["c2t1"], part_output(PLAN, "c2t1"))
    assert await stores.jobs.claim("w") is None

    assert await stores.jobs.requeue(video_id)
    assert (await _video(stores, video_id)).status is VideoStatus.PLAYABLE
    again = await _claim_all(stores)
    assert set(again) == {"c1t1", "c2t1", "c0t2", "c1t2", "c2t2"}, "not what is in"
    for key, lease in again.items():
        assert await stores.jobs.publish_part(lease, part_output(PLAN, key, attempt=2))
    assert (await _video(stores, video_id)).status is VideoStatus.READY


async def test_a_part_whose_every_lease_ran_out_fails_its_video(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now, max_attempts=1)
    parent = await stores.jobs.claim("planner")
    assert parent is not None
    assert await stores.jobs.split(parent, PLAN)
    assert await stores.jobs.claim("w") is not None
    clock.advance(LEASE + 1)
    await stores.jobs.claim("w")  # the expired one fails first
    video = await _video(stores, video_id)
    assert video.status is VideoStatus.FAILED
    assert video.error is not None
    assert video.error.startswith("part c0t1 failed: gave up after 1 attempts")


async def _video(stores: Stores, video_id: str):  # type: ignore[no-untyped-def]
    video = await stores.videos.get(video_id)
    assert video is not None
    return video


async def _audio_folder(stores: Stores, video_id: str) -> tuple[str, int]:
    found = await stores.videos.parts(video_id)
    assert found is not None
    rung = found[1]["audio"].rungs[0]
    return rung.folder, len(rung.segments)
