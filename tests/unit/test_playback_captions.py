"""The play side's captions: looked up once per version of the video, not per request;
the master names them as soon as they change; a split video's cues are moved onto its
offset timeline."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.domain.captions import Caption, CaptionOrigin, caption_key
from vodstack.domain.videos import Video, VideoStatus
from vodstack.ports import CaptionStore, VideoStore
from vodstack.services.playback import PlaybackService
from vodstack.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n240p/index.m3u8\n"
CAPTION = Caption("c" * 32, "v1", "en", "English", CaptionOrigin.UPLOAD, NOW)


class Videos:
    def __init__(self, video: Video) -> None:
        self.video = video

    async def get(self, video_id: str) -> Video | None:
        return self.video


class CountingCaptions:
    def __init__(self) -> None:
        self.captions: list[Caption] = []
        self.lookups = 0

    async def list(self, video_id: str) -> list[Caption]:
        self.lookups += 1
        return list(self.captions)


def _setup(chunked: bool = False) -> tuple[PlaybackService, Videos, CountingCaptions]:
    video = Video(
        id="v1",
        title="t",
        description="",
        filename="f.mp4",
        content_type=None,
        size=1,
        source_key="sources/v1/source",
        status=VideoStatus.READY,
        created_at=NOW,
        updated_at=NOW,
        published_epoch=1,
        duration=8.0,
        chunked=chunked,
    )
    storage = MemoryStorage(PartSigner(b"k", "http://vod.test"))
    storage.objects["outputs/v1/e1/master.m3u8"] = MASTER.encode()
    storage.objects[caption_key("v1", CAPTION.id)] = (
        b"WEBVTT\n\n00:00:07.000 --> 00:00:07.500\nlate\n"
    )
    videos, captions = Videos(video), CountingCaptions()
    playback = PlaybackService(
        cast(VideoStore, cast(Any, videos)),
        storage,
        Settings(public_url="http://vod.test", _env_file=None),
        b"k" * 32,
        captions=cast(CaptionStore, cast(Any, captions)),
    )
    return playback, videos, captions


async def test_the_captions_are_read_once_per_version_and_the_master_follows_them() -> None:
    playback, videos, captions = _setup()
    for _ in range(3):
        body = (await playback.hls_file("v1", 1, "master.m3u8")).source
        assert body == MASTER.encode()
    assert captions.lookups == 1

    captions.captions = [CAPTION]
    videos.video = dataclasses.replace(videos.video, updated_at=NOW + timedelta(seconds=1))
    playback.forget("v1")
    for _ in range(3):
        body = (await playback.hls_file("v1", 1, "master.m3u8")).source
    assert isinstance(body, bytes)
    assert f'URI="captions/{CAPTION.id}/index.m3u8"' in body.decode()
    assert 'BANDWIDTH=1,SUBTITLES="subs"' in body.decode()
    playlist = await playback.hls_file("v1", 1, f"captions/{CAPTION.id}/index.m3u8")
    assert isinstance(playlist.source, bytes)
    assert playlist.source.decode().count(".vtt") == 2  # 8 s: two 6 s segments
    assert captions.lookups == 2


async def test_a_split_videos_cues_land_on_its_offset_timeline() -> None:
    for chunked, mpegts in ((False, 0), (True, 90_000)):
        playback, _, captions = _setup(chunked)
        captions.captions = [CAPTION]
        first = await playback.hls_file("v1", 1, f"captions/{CAPTION.id}/seg_00000.vtt")
        second = await playback.hls_file("v1", 1, f"captions/{CAPTION.id}/seg_00001.vtt")
        assert isinstance(first.source, bytes)
        assert isinstance(second.source, bytes)
        assert first.content_type == "text/vtt; charset=utf-8"
        assert f"MPEGTS:{mpegts},LOCAL:00:00:00.000" in second.source.decode()
        assert "late" not in first.source.decode()
        assert "00:00:07.000 --> 00:00:07.500\nlate" in second.source.decode()
