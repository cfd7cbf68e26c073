"""Thumbnails are made once, by one request however many ask at once, from the segment that
holds the frame; only the making of new ones is rate-limited."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from tests.unit.test_playback_video_cache import Clock, CountingVideos, service, video
from vodstack import errors
from vodstack.adapters.stores_memory import memory_stores
from vodstack.adapters.transcoder_fake import FAKE_PICTURE
from vodstack.domain.accounts import ANONYMOUS
from vodstack.domain.videos import VideoStatus
from vodstack.ports import Storage
from vodstack.services.ratelimit import RateLimiter
from vodstack.services.thumbnails import ThumbnailService

PLAYLIST = (
    '#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MAP:URI="init.mp4"\n'
    "#EXTINF:6.0,\nseg_00000.m4s\n#EXTINF:4.0,\nseg_00001.m4s\n#EXT-X-ENDLIST\n"
)
RENDITIONS = [
    {"name": "360p", "width": 640, "height": 360, "playlist": "360p/index.m3u8"},
    {"name": "240p", "width": 426, "height": 240, "playlist": "240p/index.m3u8"},
]


class SlowGrabber:
    """Holds every grab until let go, so that requests pile up meanwhile."""

    def __init__(self) -> None:
        self.grabs: list[tuple[bytes, float, int]] = []
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def grab(self, media: Path, offset: float, width: int, out: Path) -> None:
        self.grabs.append((media.read_bytes(), offset, width))
        self.started.set()
        await self.go.wait()
        out.write_bytes(FAKE_PICTURE)


async def _world(tmp_path: Path, per_minute: int = 100) -> tuple[ThumbnailService, SlowGrabber]:
    ready = dataclasses.replace(
        video(VideoStatus.READY), duration=10.0, renditions=RENDITIONS, cover_time=7.0
    )
    playback = service(CountingVideos(ready), Clock())
    storage = cast(Storage, cast(Any, playback)._storage)
    for rung in ("360p", "240p"):
        for name, body in (("index.m3u8", PLAYLIST), ("init.mp4", "I"), ("seg_00001.m4s", "S")):
            path = tmp_path / f"{rung}-{name}"
            path.write_text(body if name.endswith("m3u8") else f"{body}{rung}")
            await storage.upload_file(path, f"outputs/v1/e1/{rung}/{name}")
    grabber = SlowGrabber()
    limit = RateLimiter(memory_stores().rate_limits, per_minute, "new thumbnails", clock=Clock())
    return ThumbnailService(playback, storage, grabber, limit), grabber


async def test_many_asking_at_once_make_one_picture(tmp_path: Path) -> None:
    thumbnails, grabber = await _world(tmp_path)
    asking = [
        asyncio.create_task(thumbnails.thumbnail("v1", ANONYMOUS, 320, None)) for _ in range(5)
    ]
    await grabber.started.wait()
    for _ in range(10):  # let the others reach the picture being made
        await asyncio.sleep(0)
    grabber.go.set()
    pictures = await asyncio.gather(*asking)
    assert len(grabber.grabs) == 1
    assert all(p.source == FAKE_PICTURE for p in pictures)
    # The poster's frame (the worker's cover, 7 s) is 1 s into the second segment of the
    # smallest rendition at least 320 wide, read after its init segment.
    media, offset, width = grabber.grabs[0]
    assert (media, width) == (b"I240pS240p", 320)
    assert offset == pytest.approx(1.0)
    kept = await thumbnails.thumbnail("v1", ANONYMOUS, 320, None)
    assert kept.source == FAKE_PICTURE  # from storage now
    assert len(grabber.grabs) == 1


async def test_only_new_pictures_are_limited(tmp_path: Path) -> None:
    thumbnails, grabber = await _world(tmp_path, per_minute=1)
    grabber.go.set()
    await thumbnails.thumbnail("v1", ANONYMOUS, 640, 6.5)
    await thumbnails.thumbnail("v1", ANONYMOUS, 640, 6.5)  # kept: not counted
    with pytest.raises(errors.RateLimited, match="new thumbnails"):
        await thumbnails.thumbnail("v1", ANONYMOUS, 640, 7.5)
    assert len(grabber.grabs) == 1
