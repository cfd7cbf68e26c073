"""Rungs above 1080p through the worker: a short 1440p video with VODSTACK_MAX_RUNG=1440
is encoded in parts, every rung up to 1080p first and 1440p after, so the top rung never
delays the first playable moment; and the ready video's receipt covers all five rungs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from tests.support.db import add_queued_video
from vodstack.adapters.ffmpeg import FfmpegTranscoder
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.clock import utc_now
from vodstack.domain.jobs import Outcome
from vodstack.domain.videos import VideoStatus, source_key
from vodstack.services.processing import ChunkPolicy, Processor

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SECONDS = 2


def qhd_clip(path: Path) -> Path:
    lavfi = [
        *("-f", "lavfi", "-i", f"testsrc2=size=2560x1440:rate=30:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"),
    ]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *lavfi, *codecs, str(path)]
    subprocess.run(command, check=True, timeout=120)
    return path


async def test_a_1440p_rung_comes_last_and_the_receipt_covers_it(
    tmp_path: Path, storage: MemoryStorage
) -> None:
    stores = memory_stores()
    video_id = await add_queued_video(stores, utc_now())
    storage.objects[source_key(video_id)] = qhd_clip(tmp_path / "qhd.mp4").read_bytes()
    transcoder = FfmpegTranscoder(FFMPEG, "libx264", max_rung=1440)
    processor = Processor(
        stores.jobs, storage, transcoder, tmp_path / "work", 30.0, 5.0, ChunkPolicy()
    )
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert (await processor.run(lease)).outcome is Outcome.SPLIT
    order, seen = [], []
    while (part := await stores.jobs.claim("w")) is not None:
        assert part.spec is not None
        order.append(part.spec.rungs)
        assert (await processor.run(part)).outcome is Outcome.PUBLISHED
        video = await stores.videos.get(video_id)
        assert video is not None
        seen.append((video.status, {r["name"] for r in video.renditions}))
    assert order[-1] == ("1440p",), order
    # Playable at every rung up to 1080p before the 1440p part began.
    status, listed = seen[-2]
    assert status is VideoStatus.PLAYABLE
    assert listed == {"1080p", "720p", "480p", "240p"}
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.status is VideoStatus.READY
    names = ["1440p", "1080p", "720p", "480p", "240p"]
    assert sorted(r["name"] for r in video.renditions) == sorted(names)
    assert video.receipt is not None
    by_rung = {r["rung"]: r for r in video.receipt["rungs"]}
    assert set(by_rung) == set(names)
    assert all(r["published"] and r["frames"] > 0 for r in by_rung.values())
    assert by_rung["1440p"]["width"] == 2560
