"""The worker loop on a real database, with the transcoder replaced by a test double:
leases, heartbeats, fencing and shutdown, without waiting for ffmpeg."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.db import add_video
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.clock import utc_now
from vodstack.db import sql_stores
from vodstack.db.tables import jobs
from vodstack.domain.media import Rung, SourceInfo, TranscodeResult
from vodstack.domain.videos import source_key
from vodstack.ports import CommandCallback, JobStore, ProgressCallback, Transcoder
from vodstack.services.processing import Processor
from vodstack.worker import Worker
from vodstack.worker.sources import DatabaseSource


class OverlapCounting(FakeTranscoder):
    """Counts transcodes of one source that run at the same time (each job's source holds
    its video id)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.active: list[bytes] = []
        self.overlaps = 0

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        *,
        ladder: Sequence[Rung] | None = None,
    ) -> TranscodeResult:
        key = source.read_bytes()
        self.overlaps += key in self.active
        self.active.append(key)
        try:
            return await super().transcode(source, info, out_dir, on_progress, on_command)
        finally:
            self.active.remove(key)


def make_worker(
    engine: AsyncEngine,
    storage: MemoryStorage,
    transcoder: Transcoder,
    tmp: Path,
    *,
    lease: float = 5.0,
    heartbeat: float = 0.2,
    **options: Any,
) -> tuple[Worker, JobStore]:
    store = sql_stores(engine, lease).jobs
    processor = Processor(store, storage, transcoder, tmp / uuid.uuid4().hex, lease, heartbeat)
    source = DatabaseSource(store, None, poll_seconds=0.05)
    worker = Worker(
        source, processor.run, heartbeat_seconds=heartbeat, pause_seconds=0.05, **options
    )
    return worker, store


async def test_two_workers_never_run_one_job_at_once(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    ids = [await add_video(sql_stores(engine, 5.0), storage) for _ in range(8)]
    transcoder = OverlapCounting(seconds=0.1)
    workers = [
        make_worker(engine, storage, transcoder, tmp_path, concurrency=2, once=True)[0]
        for _ in range(2)
    ]
    await asyncio.wait_for(asyncio.gather(*(w.run() for w in workers)), 60)
    store = sql_stores(engine, 5.0).jobs
    assert transcoder.overlaps == 0
    assert sum(w.processed for w in workers) == 8
    for video_id in ids:
        events = await store.events(video_id)
        assert [e.kind for e in events].count("ready") == 1
        assert f"outputs/{video_id}/e1/master.m3u8" in storage.objects


async def test_a_lost_lease_stops_the_encode_within_a_heartbeat(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    video_id = await add_video(sql_stores(engine, 5.0), storage)
    transcoder = FakeTranscoder(block=True)
    worker, store = make_worker(engine, storage, transcoder, tmp_path, heartbeat=0.2)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(transcoder.started.wait(), 10)
    async with engine.begin() as conn:  # another worker took the job over
        await conn.execute(update(jobs).where(jobs.c.video_id == video_id).values(epoch=7))
    await asyncio.wait_for(transcoder.cancelled.wait(), 1.5)
    worker.stop()
    worker.stop()
    await asyncio.wait_for(running, 10)
    job = await store.view(video_id)
    assert job is not None
    assert (job.state.status, job.state.epoch, job.published_epoch) == ("processing", 7, None)
    assert not [k for k in storage.objects if k.startswith("outputs/")]


async def test_unusable_input_fails_at_once_and_transient_errors_retry(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    bad = await add_video(sql_stores(engine, 5.0), storage)
    transcoder = FakeTranscoder(invalid="no video stream")
    worker, store = make_worker(engine, storage, transcoder, tmp_path, once=True)
    await asyncio.wait_for(worker.run(), 10)
    job = await store.view(bad)
    assert job is not None
    assert (job.state.status, job.state.attempts, job.last_error) == (
        "failed",
        1,
        "no video stream",
    )

    flaky = await add_video(sql_stores(engine, 5.0), storage)
    transcoder = FakeTranscoder(fail="ffmpeg was killed")
    worker, store = make_worker(engine, storage, transcoder, tmp_path, once=True)
    await asyncio.wait_for(worker.run(), 10)
    job = await store.view(flaky)
    assert job is not None
    assert (job.state.status, job.state.attempts, job.last_error) == (
        "queued",
        1,
        "ffmpeg was killed",
    )
    assert job.state.available_at > utc_now()


async def test_stopping_twice_releases_running_jobs_for_others(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    video_id = await add_video(sql_stores(engine, 5.0), storage)
    transcoder = FakeTranscoder(block=True)
    worker, store = make_worker(engine, storage, transcoder, tmp_path, graceful_seconds=30)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(transcoder.started.wait(), 10)
    worker.stop()
    await asyncio.sleep(0.3)
    assert not transcoder.cancelled.is_set()  # the first stop lets the job finish...
    worker.stop()
    await asyncio.wait_for(running, 10)  # ...the second hands it back at once
    assert transcoder.cancelled.is_set()
    job = await store.view(video_id)
    assert job is not None
    assert (job.state.status, job.state.attempts, job.worker) == ("queued", 0, None)
    assert await store.claim("next") is not None


async def test_a_worker_counts_its_slots_while_it_runs(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    """Enrolled at its start, renewed at its heartbeats, withdrawn when it stops: the
    slots that a video is cut for are those of the workers running."""
    roster = sql_stores(engine, 5.0).workers
    transcoder = FakeTranscoder()
    workers = [
        make_worker(engine, storage, transcoder, tmp_path, concurrency=n, roster=roster)[0]
        for n in (2, 3)
    ]
    running = [asyncio.create_task(w.run()) for w in workers]
    await _until(lambda: roster.live_slots(), 5)
    workers[0].stop()
    await asyncio.wait_for(running[0], 10)
    assert await roster.live_slots() == 3, "the stopped worker's 2 slots are withdrawn"
    workers[1].stop()
    await asyncio.wait_for(running[1], 10)
    assert await roster.live_slots() == 0


async def _until(read: Callable[[], Awaitable[int]], value: int, within: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (found := await read()) != value:
        assert asyncio.get_running_loop().time() < deadline, f"{found}, not {value}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("axm_CORRUPT_invalid_nalu.mp4", "cannot be decoded"),
        ("axm_CORRUPT_malformed_free_box_no_moov.mp4", "moov atom not found"),
        ("axm_CORRUPT_vp9_invalid_bitstream.webm", "cannot be decoded"),
        ("axm_audio_only_aac.mp4", "no video stream"),
        ("axm_audio_only_aac_8k_mono.m4a", "no video stream"),
    ],
)
async def test_unusable_sample_files_end_failed_with_their_reason(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path, name: str, reason: str
) -> None:
    from tests.conftest import media
    from vodstack.adapters.ffmpeg import FfmpegTranscoder

    video_id = await add_video(sql_stores(engine, 5.0), storage)
    storage.objects[source_key(video_id)] = media(name).read_bytes()
    transcoder = FfmpegTranscoder(imageio_ffmpeg.get_ffmpeg_exe(), "libx264")
    worker, store = make_worker(engine, storage, transcoder, tmp_path, once=True)
    await asyncio.wait_for(worker.run(), 60)
    video = await sql_stores(engine, 5.0).videos.get(video_id)
    assert video is not None
    assert video.status == "failed"
    assert video.error is not None
    assert reason in video.error
    kinds = [e.kind for e in await store.events(video_id)]
    assert kinds == ["queued", "claimed", "failed"]  # at once: no retry, no encode


async def test_a_job_that_cannot_be_recorded_does_not_stop_the_worker(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    first = await add_video(sql_stores(engine, 5.0), storage)
    second = await add_video(sql_stores(engine, 5.0), storage)
    transcoder = FakeTranscoder(fail="ffmpeg was killed")
    worker, store = make_worker(engine, storage, transcoder, tmp_path, once=True)
    real_retry = store.retry_or_fail
    calls = 0

    async def flaky_retry(lease: Any, reason: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return await real_retry(lease, reason)

    store.retry_or_fail = flaky_retry  # type: ignore[method-assign]
    await asyncio.wait_for(worker.run(), 10)
    jobs_after = [await store.view(v) for v in (first, second)]
    assert sorted(j.state.status for j in jobs_after if j) == ["processing", "queued"]
