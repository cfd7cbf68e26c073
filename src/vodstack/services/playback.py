"""The play side: hand out a ready video's master playlist, and find the files it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from vodstack import errors
from vodstack.db.uploads import VideoQueries
from vodstack.domain.videos import HLS_CONTENT_TYPES, Video, VideoStatus, output_prefix
from vodstack.ports import Storage
from vodstack.settings import Settings

MASTER = "master.m3u8"
# Published outputs never change under their epoch, so segments are cached for good; a
# playlist stays short-lived so that later per-viewer rewriting (tokens) can take effect.
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=10"
_SAFE_PATH = re.compile(
    r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,100}){0,3}$"
)


@dataclass(frozen=True, slots=True)
class Playback:
    master_url: str
    expires_at: datetime | None  # None until playback URLs are signed


@dataclass(frozen=True, slots=True)
class HlsFile:
    source: Path | str | bytes  # a file to send, a URL to redirect to, or the bytes
    content_type: str
    cache_control: str


class PlaybackService:
    def __init__(self, videos: VideoQueries, storage: Storage, settings: Settings) -> None:
        self._videos = videos
        self._storage = storage
        self._settings = settings

    async def playback(self, video_id: str) -> Playback:
        video = await self._ready(video_id)
        master = f"{self._settings.public_url}{hls_path(video.id, _epoch(video), MASTER)}"
        return Playback(master_url=master, expires_at=None)

    async def hls_file(self, video_id: str, epoch: int, path: str) -> HlsFile:
        """A file of the published ladder. Only the published epoch is served: an
        unpublished attempt's outputs are never visible, whatever URL is guessed."""
        suffix = PurePosixPath(path).suffix
        if not _SAFE_PATH.match(path) or ".." in path or suffix not in HLS_CONTENT_TYPES:
            raise errors.NotFound(f"no such playback file: {path!r}")
        video = await self._ready(video_id)
        if epoch != _epoch(video):
            raise errors.NotFound(
                "that rendition is no longer published; fetch the playback URL again"
            )
        key = f"{output_prefix(video.id, epoch)}/{path}"
        source = await self._storage.locate(key, self._settings.presign_seconds)
        cache = PLAYLIST_CACHE if suffix == ".m3u8" else SEGMENT_CACHE
        return HlsFile(source, HLS_CONTENT_TYPES[suffix], cache)

    async def _ready(self, video_id: str) -> Video:
        video = await self._videos.get(video_id)
        if video is None:
            raise errors.VideoNotFound(f"no video with id {video_id!r}")
        if video.status is not VideoStatus.READY:
            detail = f": {video.error}" if video.error else ""
            raise errors.VideoNotReady(f"the video is {video.status}{detail}")
        return video


def hls_path(video_id: str, epoch: int, path: str) -> str:
    return f"/v1/videos/{video_id}/hls/e{epoch}/{path}"


def _epoch(video: Video) -> int:
    assert video.published_epoch is not None, "a ready video has a published epoch"
    return video.published_epoch
