"""A published video's storyboard, end to end on the in-memory twins: the worker uploads
its sheets and VTT and records the cover's time, and the play path serves them, a
chunked video's VTT assembled from its parts, with a private video's token or a
presigned URL carried on to every sheet."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from tests.support.db import add_queued_video
from tests.support.parts import SOURCE_40S
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.domain.accounts import Visibility
from vodstack.domain.media import SourceInfo
from vodstack.domain.signing import PlaybackGrant, playback_token
from vodstack.domain.videos import Video, VideoChanges, source_key
from vodstack.ports import Stores
from vodstack.services.playback import PlaybackService
from vodstack.services.processing import ChunkPolicy, Processor
from vodstack.settings import Settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32
SHEET_CUE = re.compile(r"^(\S+)#xywh=\d+,\d+,\d+,\d+$", re.M)


class PresigningStorage(MemoryStorage):
    """Storage that serves media files itself, as S3 does."""

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        return f"https://media.test/{key}?signed={expires_in}"


class TickingStorage(MemoryStorage):
    """Presigns as S3 does, whose signature holds the second it was made in: a URL made a
    moment later differs from the one before it."""

    signed = 0

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        self.signed += 1
        return f"https://media.test/{key}?signature={self.signed}"


async def published(
    tmp_path: Path, storage: MemoryStorage, info: SourceInfo | None = None
) -> tuple[Stores, Video]:
    stores = memory_stores(60.0, lambda: NOW)
    video_id = await add_queued_video(stores, NOW)
    storage.objects[source_key(video_id)] = b"a source"
    transcoder = FakeTranscoder() if info is None else FakeTranscoder(info=info)
    policy = ChunkPolicy(single_below=30)
    processor = Processor(stores.jobs, storage, transcoder, tmp_path, 60.0, 0.05, policy)
    while (lease := await stores.jobs.claim("w")) is not None:
        await processor.run(lease)
    video = await stores.videos.get(video_id)
    assert video is not None
    return stores, video


def playback(stores: Stores, storage: MemoryStorage) -> PlaybackService:
    settings = Settings(public_url="http://vod.test", _env_file=None)
    return PlaybackService(stores.videos, storage, settings, KEY)


async def test_a_one_piece_video_serves_its_storyboard(tmp_path: Path) -> None:
    storage = MemoryStorage(PartSigner(b"k", "http://x"))
    stores, video = await published(tmp_path, storage)
    assert video.cover_time == 2.0  # after the first tile, the fake's tiles being alike
    service = playback(stores, storage)
    vtt = await service.hls_file(video.id, 1, "storyboard/storyboard.vtt")
    assert vtt.content_type == "text/vtt; charset=utf-8"
    body = cast(bytes, vtt.source).decode()
    assert body.startswith("WEBVTT\n")
    assert SHEET_CUE.findall(body) == ["sheet_000.jpg", "sheet_000.jpg"]
    sheet = await service.hls_file(video.id, 1, "storyboard/sheet_000.jpg")
    assert sheet.content_type == "image/jpeg"
    assert sheet.source == b"fake sheet of tiles"


async def test_a_sheet_has_one_url_however_many_cues_name_it(tmp_path: Path) -> None:
    """Players fetch each URL a VTT names: a sheet named by two URLs is fetched twice."""
    storage = TickingStorage(PartSigner(b"k", "http://x"))
    stores, video = await published(tmp_path, storage)
    vtt = await playback(stores, storage).hls_file(video.id, 1, "storyboard/storyboard.vtt")
    uris = SHEET_CUE.findall(cast(bytes, vtt.source).decode())
    assert len(uris) == 2  # two cues, on the one sheet
    assert len(set(uris)) == 1, uris


async def test_a_private_video_carries_its_token_to_every_sheet(tmp_path: Path) -> None:
    storage = MemoryStorage(PartSigner(b"k", "http://x"))
    stores, video = await published(tmp_path, storage)
    await stores.videos.update(video.id, VideoChanges(visibility=Visibility.PRIVATE), NOW)
    token = playback_token(PlaybackGrant(video.id, int(time.time()) + 600), KEY)
    service = playback(stores, storage)
    vtt = await service.hls_file(video.id, 1, "storyboard/storyboard.vtt", token)
    uris = SHEET_CUE.findall(cast(bytes, vtt.source).decode())
    assert uris
    assert all(re.fullmatch(r"sheet_000\.jpg\?token=[^#\s]+", u) for u in uris), uris
    assert vtt.cache_control.startswith("private")


async def test_a_chunked_video_serves_the_vtt_its_parts_make(tmp_path: Path) -> None:
    storage = PresigningStorage(PartSigner(b"k", "http://x"))
    stores, video = await published(tmp_path, storage, SOURCE_40S)
    assert video.chunked
    prefix = f"outputs/{video.id}/e1/storyboard"
    assert sorted(k for k in storage.objects if k.startswith(prefix)) == [
        f"{prefix}/c{n}a1/sheet_000.jpg" for n in range(3)
    ]
    service = playback(stores, storage)
    vtt = await service.hls_file(video.id, 1, "storyboard/storyboard.vtt")
    body = cast(bytes, vtt.source).decode()
    # 40 s: a tile every 2 s, each chunk's on its own sheet, each sheet presigned.
    assert body.count(" --> ") == 20
    sheets = SHEET_CUE.findall(body)
    assert sheets[0].startswith(f"https://media.test/{prefix}/c0a1/sheet_000.jpg?signed=")
    assert sheets[-1].startswith(f"https://media.test/{prefix}/c2a1/sheet_000.jpg")
    assert "00:00:38.000 --> 00:00:40.000" in body
    # The first tenth of 40 s is skipped; the video keeps the cover its parts' tiles make.
    assert video.cover_time == 4.0
