"""One contract, every job store: the in-memory twin, SQLite and PostgreSQL. Leases,
fencing, retries and the timeline behave alike on all three."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.conftest import SYSTEM
from tests.contract.conftest import LEASE, FakeClock, StoresFactory
from tests.support.db import add_queued_video
from vodstack.domain.jobs import JobStatus
from vodstack.ports import Stores


async def test_racing_claimers_never_share_a_job(
    stores: Stores, open_stores: StoresFactory, clock: FakeClock
) -> None:
    created = {await add_queued_video(stores, clock.now) for _ in range(6)}
    other = open_stores(clock)  # a second worker process
    claimers = [stores.jobs, other.jobs] * 8
    claims = await asyncio.gather(*(s.claim(f"w{i}") for i, s in enumerate(claimers)))
    won = [c for c in claims if c is not None]
    assert sorted(c.video_id for c in won) == sorted(created)
    assert all(c.epoch == 1 and c.attempts == 1 for c in won)


async def test_claims_take_the_oldest_due_job_first_and_name_its_source(
    stores: Stores, clock: FakeClock
) -> None:
    first = await add_queued_video(stores, clock.now)
    clock.advance(1)
    second = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert (lease.video_id, lease.source_key) == (first, f"sources/{first}/source")
    named = await stores.jobs.claim("w", video_id=second)
    assert named is not None
    assert named.video_id == second
    assert await stores.jobs.claim("w") is None


async def test_an_expired_lease_is_reclaimed_and_fences_out_the_old_holder(
    stores: Stores, clock: FakeClock
) -> None:
    jobs = stores.jobs
    start = clock.now
    video_id = await add_queued_video(stores, clock.now)
    first = await jobs.claim("a")
    assert first is not None
    clock.advance(LEASE - 1)
    assert await jobs.claim("b") is None  # still leased
    assert await jobs.heartbeat(first, 0.5)
    clock.advance(LEASE - 1)
    assert await jobs.claim("b") is None  # the heartbeat extended it
    clock.advance(2)
    second = await jobs.claim("b")
    assert second is not None
    assert (second.video_id, second.epoch, second.attempts) == (video_id, 2, 2)
    # It became due again when the heartbeat's lease ran out: that is its wait.
    assert first.due_since == start
    assert second.due_since == start + timedelta(seconds=2 * LEASE - 1)

    # The old holder is fenced out of everything.
    assert not await jobs.heartbeat(first, 0.9)
    assert not await jobs.record(first, "encoding", "x")
    assert not await jobs.publish(first, [], 1.0, "libx264")
    assert not await jobs.fail(first, "x")
    assert await jobs.retry_or_fail(first, "x") is None
    assert not await jobs.release(first)

    assert await jobs.publish(second, [{"name": "720p"}], 12.5, "libx264")
    view = await jobs.view(video_id)
    assert view is not None
    assert (view.state.status, view.published_epoch, view.state.epoch) == ("ready", 2, 2)
    assert (view.encoder, view.progress, view.worker) == ("libx264", 1.0, None)
    assert not await jobs.publish(second, [], 1.0, "libx264")  # published once only
    kinds = [(e.kind, e.epoch, e.worker) for e in await jobs.events(video_id)]
    assert kinds == [
        ("queued", 0, None),
        ("claimed", 1, "a"),
        ("claimed", 2, "b"),
        ("ready", 2, "b"),
    ]
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.published_epoch, video.duration) == ("ready", 2, 12.5)
    assert video.renditions == [{"name": "720p"}]


async def test_a_lost_lease_fails_heartbeats_even_for_the_same_owner_name(
    stores: Stores, clock: FakeClock
) -> None:
    await add_queued_video(stores, clock.now)
    first = await stores.jobs.claim("same")
    clock.advance(LEASE + 1)
    second = await stores.jobs.claim("same")
    assert first is not None
    assert second is not None
    assert not await stores.jobs.heartbeat(first, 0.1)
    assert await stores.jobs.heartbeat(second, 0.1)


async def test_the_holder_records_steps_of_its_work_in_the_timeline(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert await stores.jobs.record(lease, "encoding", "with libx264", {"command": "ffmpeg -i"})
    assert await stores.jobs.heartbeat(lease, 0.25)
    last = (await stores.jobs.events(video_id))[-1]
    assert (last.kind, last.status, last.epoch, last.worker) == ("encoding", "processing", 1, "w")
    assert (last.reason, last.detail) == ("with libx264", {"command": "ffmpeg -i"})
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.progress) == ("processing", 0.25)


async def test_transient_errors_back_off_then_fail_when_attempts_are_spent(
    stores: Stores, clock: FakeClock
) -> None:
    jobs = stores.jobs
    video_id = await add_queued_video(stores, clock.now, max_attempts=2)
    lease = await jobs.claim("w")
    assert lease is not None
    assert await jobs.retry_or_fail(lease, "storage timed out") is JobStatus.QUEUED
    assert await jobs.claim("w") is None  # backing off
    waiting = await jobs.view(video_id)
    assert waiting is not None
    assert waiting.last_error == "storage timed out"
    assert waiting.state.available_at > clock.now
    clock.advance(6)
    lease = await jobs.claim("w")
    assert lease is not None
    assert lease.attempts == 2
    assert await jobs.retry_or_fail(lease, "storage timed out") is JobStatus.FAILED
    view = await jobs.view(video_id)
    assert view is not None
    assert view.state.status == "failed"
    assert view.last_error == "gave up after 2 attempts: storage timed out"
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.error) == ("failed", view.last_error)


async def test_an_input_error_fails_at_once(stores: Stores, clock: FakeClock) -> None:
    video_id = await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert await stores.jobs.fail(lease, "no video stream")
    clock.advance(3600)
    assert await stores.jobs.claim("w") is None
    assert (await stores.jobs.events(video_id))[-1].reason == "no video stream"
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.error) == ("failed", "no video stream")


async def test_a_job_whose_workers_keep_dying_fails_instead_of_sticking(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now, max_attempts=2)
    for _ in range(2):
        assert await stores.jobs.claim("w") is not None
        clock.advance(LEASE + 1)  # the worker died
    assert await stores.jobs.claim("w") is None
    view = await stores.jobs.view(video_id)
    assert view is not None
    assert view.state.status == "failed"
    assert view.last_error is not None
    assert "stopped responding" in view.last_error
    last = (await stores.jobs.events(video_id))[-1]
    assert (last.kind, last.status) == ("expired", "failed")


async def test_release_hands_the_job_back_without_spending_an_attempt(
    stores: Stores, clock: FakeClock
) -> None:
    await add_queued_video(stores, clock.now)
    lease = await stores.jobs.claim("a")
    assert lease is not None
    assert await stores.jobs.release(lease)
    again = await stores.jobs.claim("b")
    assert again is not None
    assert (again.epoch, again.attempts) == (2, 1)


async def test_a_failed_video_can_be_requeued(stores: Stores, clock: FakeClock) -> None:
    video_id = await add_queued_video(stores, clock.now)
    assert not await stores.jobs.requeue(video_id)  # only a failed job can be
    lease = await stores.jobs.claim("w")
    assert lease is not None
    await stores.jobs.fail(lease, "bad")
    assert await stores.jobs.requeue(video_id)
    video = await stores.videos.get(video_id)
    assert video is not None
    assert (video.status, video.error) == ("queued", None)
    again = await stores.jobs.claim("w")
    assert again is not None
    assert (again.attempts, again.epoch) == (1, 2)


async def test_state_view_and_counts_say_where_jobs_stand(stores: Stores, clock: FakeClock) -> None:
    jobs = stores.jobs
    assert await jobs.state_of("0" * 32) == (False, None)
    queued_at = clock.now
    first = await add_queued_video(stores, clock.now)
    clock.advance(1)
    second = await add_queued_video(stores, clock.now)
    clock.advance(1)
    exists, state = await jobs.state_of(second)
    assert exists
    assert state is not None
    assert (state.status, state.epoch, state.attempts, state.max_attempts) == ("queued", 0, 0, 3)
    view = await jobs.view(second)
    assert view is not None
    assert view.ahead == 1  # the first is claimed before it
    counts = await jobs.counts()
    assert counts.by_status == {
        JobStatus.QUEUED: 2,
        JobStatus.PROCESSING: 0,
        JobStatus.SPLIT: 0,
        JobStatus.READY: 0,
        JobStatus.FAILED: 0,
    }
    assert counts.oldest_due_since == queued_at
    lease = await jobs.claim("w")
    assert lease is not None
    counts = await jobs.counts()
    assert (counts.by_status[JobStatus.QUEUED], counts.by_status[JobStatus.PROCESSING]) == (1, 1)
    claimed = await jobs.view(first)
    assert claimed is not None
    expires = clock.now + timedelta(seconds=LEASE)
    assert (claimed.worker, claimed.state.lease_expires_at) == ("w", expires)


TRUNCATED = "the file is truncated: 0.9 s of 1.6 s could be decoded"


async def test_the_holder_warns_the_owner_and_each_warning_replaces_the_last(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    fresh = await stores.videos.get(video_id)
    assert fresh is not None
    assert fresh.warnings == ()
    lease = await stores.jobs.claim("w")
    assert lease is not None
    clock.advance(1)
    assert await stores.jobs.warn(lease, [TRUNCATED, "no audio stream"])
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.warnings == (TRUNCATED, "no audio stream")
    assert (video.status, video.updated_at) == ("processing", clock.now)
    last = (await stores.jobs.events(video_id))[-1]
    assert (last.kind, last.status, last.epoch, last.worker) == ("warned", "processing", 1, "w")
    assert last.reason == f"{TRUNCATED}; no audio stream"

    assert await stores.jobs.warn(lease, [TRUNCATED])
    assert (await _warnings(stores, video_id)) == (TRUNCATED,)
    assert await stores.jobs.warn(lease, [])  # a probe that found nothing clears them
    assert (await _warnings(stores, video_id)) == ()
    last = (await stores.jobs.events(video_id))[-1]
    assert (last.kind, last.reason) == ("warned", "no warnings")
    assert [v.warnings for v in await stores.videos.list(SYSTEM)] == [()]


async def test_a_lost_lease_cannot_warn(stores: Stores, clock: FakeClock) -> None:
    video_id = await add_queued_video(stores, clock.now)
    first = await stores.jobs.claim("a")
    assert first is not None
    clock.advance(LEASE + 1)
    second = await stores.jobs.claim("b")
    assert second is not None
    assert await stores.jobs.warn(second, [TRUNCATED])
    before = await stores.jobs.events(video_id)
    assert not await stores.jobs.warn(first, [])
    assert not await stores.jobs.warn(first, ["a zombie's warning"])
    assert await _warnings(stores, video_id) == (TRUNCATED,)
    assert await stores.jobs.events(video_id) == before
    assert await stores.jobs.publish(second, [{"name": "720p"}], 1.6, "libx264")
    assert not await stores.jobs.warn(second, []), "a published job's lease is spent"
    assert await _warnings(stores, video_id) == (TRUNCATED,)


async def _warnings(stores: Stores, video_id: str) -> tuple[str, ...]:
    video = await stores.videos.get(video_id)
    assert video is not None
    return video.warnings
