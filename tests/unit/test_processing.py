"""One job processed on the in-memory twins: the published outcome, and a lease lost to
another worker, which stops the work and touches nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.db import add_queued_video
from tests.support.parts import SOURCE_40S
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.adapters.transcoder_fake import FAKE_SOURCE, FakeTranscoder
from vodstack.domain.captions import CaptionOrigin, caption_key
from vodstack.domain.jobs import Outcome
from vodstack.domain.media import SubtitleTrack
from vodstack.domain.videos import VideoStatus, source_key
from vodstack.ports import Stores
from vodstack.services.processing import ChunkPolicy, Processor

LEASE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(clock: Clock) -> Stores:
    return memory_stores(LEASE, clock)


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage(PartSigner(b"k", "http://x"))


async def _queued(stores: Stores, storage: MemoryStorage, clock: Clock) -> str:
    video_id = await add_queued_video(stores, clock.now)
    storage.objects[source_key(video_id)] = b"a source"
    return video_id


async def test_a_job_is_published_under_its_epoch(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    video_id = await _queued(stores, storage, clock)
    processor = Processor(stores.jobs, storage, FakeTranscoder(), tmp_path, LEASE, 0.05)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    settled = await processor.run(lease)
    assert settled.outcome is Outcome.PUBLISHED
    kinds = [e.kind for e in await stores.jobs.events(video_id)]
    assert kinds == ["queued", "claimed", "probed", "planned", "encoding", "encoded", "ready"]
    assert f"outputs/{video_id}/e1/master.m3u8" in storage.objects
    assert not list(tmp_path.iterdir())  # the scratch folder is gone


async def test_a_lease_taken_over_stops_the_work_which_records_nothing(
    stores: Stores,
    storage: MemoryStorage,
    clock: Clock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    video_id = await _queued(stores, storage, clock)
    transcoder = FakeTranscoder(block=True)
    processor = Processor(stores.jobs, storage, transcoder, tmp_path, LEASE, 0.05)
    lease = await stores.jobs.claim("zombie")
    assert lease is not None
    running = asyncio.create_task(processor.run(lease))
    await asyncio.wait_for(transcoder.started.wait(), 5)
    clock.now += timedelta(seconds=LEASE + 1)  # the zombie was paused past its lease
    rescuer = await stores.jobs.claim("rescuer")
    assert rescuer is not None
    settled = await asyncio.wait_for(running, 5)
    assert settled.outcome is Outcome.LOST
    assert transcoder.cancelled.is_set()  # ffmpeg was stopped
    assert "lease lost on job" in caplog.text
    assert "another worker took the job over" in caplog.text  # the signal says why
    events = await stores.jobs.events(video_id)
    assert [e.kind for e in events if e.epoch == 1][-1] == "encoding"  # nothing after it
    assert not [k for k in storage.objects if k.startswith("outputs/")]


async def test_earlier_epochs_are_gone_before_the_publish(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    """A worker may die the moment it has published: what earlier epochs left must be gone
    by then, or nothing would ever remove it."""
    video_id = await _queued(stores, storage, clock)
    assert await stores.jobs.claim("dead") is not None
    storage.objects[f"outputs/{video_id}/e1/720p/seg_00000.m4s"] = b"half an attempt"
    clock.now += timedelta(seconds=LEASE + 1)
    lease = await stores.jobs.claim("rescuer")
    assert lease is not None
    assert lease.epoch == 2
    left_at_publish: list[list[str]] = []
    publish = stores.jobs.publish

    async def watched(*args: Any, **options: Any) -> bool:
        left_at_publish.append([k for k in storage.objects if "/e1/" in k])
        return await publish(*args, **options)

    stores.jobs.publish = watched  # type: ignore[method-assign]
    processor = Processor(stores.jobs, storage, FakeTranscoder(), tmp_path, LEASE, 0.05)
    assert (await processor.run(lease)).outcome is Outcome.PUBLISHED
    assert left_at_publish == [[]]
    assert f"outputs/{video_id}/e2/master.m3u8" in storage.objects


# --- a split video's parts ---------------------------------------------------------------


async def _run_all(stores: Stores, processor: Processor) -> list[Outcome]:
    outcomes = []
    while (lease := await stores.jobs.claim("w")) is not None:
        outcomes.append((await processor.run(lease)).outcome)
    return outcomes


async def test_a_long_video_is_split_and_its_parts_publish_one_ladder(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    video_id = await _queued(stores, storage, clock)
    transcoder = FakeTranscoder(info=SOURCE_40S)
    processor = Processor(
        stores.jobs, storage, transcoder, tmp_path, LEASE, 0.05, ChunkPolicy(single_below=30)
    )
    outcomes = await _run_all(stores, processor)
    assert outcomes == [Outcome.SPLIT] + [Outcome.PUBLISHED] * 7
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.status is VideoStatus.READY
    assert video.chunked
    # Each part read the stored source, not a download of it; each wrote its own folders.
    prefix = f"outputs/{video_id}/e1"
    assert f"{prefix}/480p/c0a1/seg_00000.m4s" in storage.objects
    assert f"{prefix}/1080p/c2a1/seg_00006.m4s" in storage.objects
    assert f"{prefix}/audio/a1/seg_00006.m4s" in storage.objects
    assert f"{prefix}/master.m3u8" not in storage.objects, "the play API assembles it"


async def test_a_video_is_cut_for_the_slots_of_the_live_workers(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    """40 s on one slot: chunks of 6, 12 and 22 s. On three slots alive (a worker whose
    enrolment ran out counts for nothing), no chunk is longer than 12 s, so that each
    slot's last part ends close to the others'."""
    policy = ChunkPolicy(single_below=30)
    spans = {}
    for enrolled in ((), (("w1", 1), ("w2", 2))):
        await stores.workers.enroll("gone", 8, 45.0)
        clock.now += timedelta(seconds=46)
        for name, slots in enrolled:
            await stores.workers.enroll(name, slots, 45.0)
        video_id = await _queued(stores, storage, clock)
        transcoder = FakeTranscoder(info=SOURCE_40S)
        processor = Processor(
            stores.jobs, storage, transcoder, tmp_path, LEASE, 0.05, policy, stores.workers
        )
        lease = await stores.jobs.claim("w", video_id)
        assert lease is not None
        assert (await processor.run(lease)).outcome is Outcome.SPLIT
        found = await stores.videos.parts(video_id)
        assert found is not None
        spans[len(enrolled)] = sorted({(p.start, p.end) for p in found[0].parts if p.tier == 2})
    assert spans[0] == [(0, 6), (6, 18), (18, 40)]
    assert spans[2] == [(0, 6), (6, 18), (18, 30), (30, 40)]


async def test_a_failed_part_removes_its_own_folders_only(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    video_id = await _queued(stores, storage, clock)
    policy = ChunkPolicy(single_below=30)
    processor = Processor(
        stores.jobs, storage, FakeTranscoder(info=SOURCE_40S), tmp_path, LEASE, 0.05, policy
    )
    for _ in range(3):  # the split, the first chunk, the audio
        lease = await stores.jobs.claim("w")
        assert lease is not None
        await processor.run(lease)
    published = set(storage.objects)
    failing = FakeTranscoder(info=SOURCE_40S, fail="ffmpeg exited with 1")
    broken = Processor(stores.jobs, storage, failing, tmp_path, LEASE, 0.05, policy)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert lease.part == "c1t1"
    assert (await broken.run(lease)).outcome is Outcome.RETRYING
    assert set(storage.objects) == published, "what the other parts published stays"
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.status is VideoStatus.PLAYABLE


async def test_a_truncated_source_is_published_with_its_warning(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    video_id = await _queued(stores, storage, clock)
    truncated = dataclasses.replace(FakeTranscoder().info, duration=0.87, declared_duration=1.6)
    transcoder = FakeTranscoder(info=truncated)
    processor = Processor(stores.jobs, storage, transcoder, tmp_path, LEASE, 0.05)
    lease = await stores.jobs.claim("w")
    assert lease is not None
    assert (await processor.run(lease)).outcome is Outcome.PUBLISHED
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.status is VideoStatus.READY
    assert video.warnings == ("the file is truncated: 0.9 s of 1.6 s could be decoded",)
    kinds = [e.kind for e in await stores.jobs.events(video_id)]
    assert kinds[:4] == ["queued", "claimed", "warned", "probed"]


async def test_the_sources_text_subtitles_become_captions_on_either_path(
    stores: Stores, storage: MemoryStorage, clock: Clock, tmp_path: Path
) -> None:
    """One piece or split into chunks, the job that probes stores the source's text tracks
    and warns of the picture ones it cannot show; a broken track is named, not fatal."""
    tracks = (
        SubtitleTrack(0, "subrip", "fre", None),
        SubtitleTrack(1, "hdmv_pgs_subtitle", "eng", None),
        SubtitleTrack(2, "ass", None, "Signs"),
        SubtitleTrack(3, "webvtt", "eng", "Broken"),
    )
    texts = {
        0: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour\n",
        2: "WEBVTT\n\n00:00:03.000 --> 00:00:04.000\nEXIT\n",
        3: "WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nbackwards\n",
    }
    for policy, info in ((None, FAKE_SOURCE), (ChunkPolicy(), SOURCE_40S)):
        video_id = await _queued(stores, storage, clock)
        transcoder = FakeTranscoder(
            info=dataclasses.replace(info, subtitles=tracks), subtitle_texts=texts
        )
        processor = Processor(stores.jobs, storage, transcoder, tmp_path, LEASE, 0.05, policy)
        lease = await stores.jobs.claim("w", video_id)
        assert lease is not None
        assert (await processor.run(lease)).outcome in (Outcome.PUBLISHED, Outcome.SPLIT)
        captions = await stores.captions.list(video_id)
        assert [(c.language, c.name, c.origin) for c in captions] == [
            ("fr", "French", CaptionOrigin.SOURCE),
            ("und", "Signs", CaptionOrigin.SOURCE),
        ]
        stored = storage.objects[caption_key(video_id, captions[0].id)]
        assert stored == b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBonjour\n\n"
        video = await stores.videos.get(video_id)
        assert video is not None
        assert video.warnings == (
            "1 subtitle track of the source hold pictures, not text, and cannot be shown "
            "as captions",
            "subtitle track 4 cannot be used: line 3: the cue ends (00:00:04.000) before it "
            "starts (00:00:05.000)",
        )
