"""The play path looks a ready video up once per short interval, not per request, and lets
go of it at once when the video changes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.domain.accounts import ANONYMOUS, Visibility
from vodstack.domain.videos import Video, VideoStatus
from vodstack.ports import VideoStore
from vodstack.services.playback import PlaybackService
from vodstack.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class CountingVideos:
    def __init__(self, video: Video) -> None:
        self.video: Video | None = video
        self.lookups = 0

    async def get(self, video_id: str) -> Video | None:
        self.lookups += 1
        return self.video


def video(status: VideoStatus, visibility: Visibility = Visibility.PUBLIC) -> Video:
    return Video(
        id="v1",
        title="t",
        description="",
        filename="f.mp4",
        content_type=None,
        size=1,
        source_key="sources/v1/source",
        status=status,
        created_at=NOW,
        updated_at=NOW,
        published_epoch=1 if status is VideoStatus.READY else None,
        visibility=visibility,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def service(videos: CountingVideos, clock: Clock) -> PlaybackService:
    settings = Settings(public_url="http://vod.test", _env_file=None)
    return PlaybackService(
        cast(VideoStore, cast(Any, videos)),
        MemoryStorage(PartSigner(b"k", "http://vod.test")),
        settings,
        b"k" * 32,
        clock=clock,
    )


async def test_a_ready_video_is_looked_up_once_per_interval() -> None:
    videos, clock = CountingVideos(video(VideoStatus.READY)), Clock()
    playback = service(videos, clock)
    for _ in range(5):
        await playback.playback("v1", ANONYMOUS)
    assert videos.lookups == 1
    clock.now += 2.5
    await playback.playback("v1", ANONYMOUS)
    assert videos.lookups == 2


async def test_a_video_that_is_not_ready_is_looked_up_every_time() -> None:
    videos, clock = CountingVideos(video(VideoStatus.PROCESSING)), Clock()
    playback = service(videos, clock)
    for _ in range(2):
        with pytest.raises(errors.VideoNotReady):
            await playback.playback("v1", ANONYMOUS)
    assert videos.lookups == 2
    # It becomes ready: the very next request sees it.
    videos.video = video(VideoStatus.READY)
    assert (await playback.playback("v1", ANONYMOUS)).expires_at is None


async def test_a_change_is_seen_at_once_after_forget() -> None:
    videos, clock = CountingVideos(video(VideoStatus.READY)), Clock()
    playback = service(videos, clock)
    await playback.playback("v1", ANONYMOUS)
    assert videos.video is not None
    videos.video = dataclasses.replace(videos.video, visibility=Visibility.PRIVATE)
    playback.forget("v1")
    with pytest.raises(errors.VideoNotFound):
        await playback.playback("v1", ANONYMOUS)  # private, and no token or owner


class SlowVideos(CountingVideos):
    """A store whose lookups take a turn of the event loop, as a real query does."""

    async def get(self, video_id: str) -> Video | None:
        self.lookups += 1
        await asyncio.sleep(0)
        return self.video


async def test_viewers_asking_when_the_entry_runs_out_share_one_lookup() -> None:
    videos, clock = SlowVideos(video(VideoStatus.READY)), Clock()
    playback = service(videos, clock)
    await asyncio.gather(*(playback.playback("v1", ANONYMOUS) for _ in range(50)))
    assert videos.lookups == 1
    clock.now += 2.5
    await asyncio.gather(*(playback.playback("v1", ANONYMOUS) for _ in range(50)))
    assert videos.lookups == 2
