"""The play side: hand out a ready video's master playlist, and find the files it names."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar

from vodstack import errors
from vodstack.db.uploads import VideoQueries
from vodstack.domain.playlist import MASTER_NAME, rewrite_uris
from vodstack.domain.videos import HLS_CONTENT_TYPES, Video, VideoStatus, output_prefix
from vodstack.ports import Storage
from vodstack.settings import Settings

T = TypeVar("T")

MASTER = MASTER_NAME
# Published outputs never change under their epoch, so segments are cached for good; a
# playlist stays short-lived: it may carry signed URLs that expire.
SEGMENT_CACHE = "public, max-age=31536000, immutable"
PLAYLIST_CACHE = "public, max-age=10"
_PLAYLIST_LIMIT = 4 * 1024 * 1024
_CACHED_PLAYLISTS = 4096
# A playlist with signed segment URLs is reused for this share of the URLs' lifetime, so a
# viewer always gets at least the rest of it to watch.
_RESIGN_SHARE = 0.1
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
    def __init__(
        self,
        videos: VideoQueries,
        storage: Storage,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._videos = videos
        self._storage = storage
        self._settings = settings
        self._clock = clock
        # Published playlists never change, so each is read from storage once.
        self._stored: OrderedDict[str, str] = OrderedDict()
        self._signed: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

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
        if suffix == ".m3u8":
            return HlsFile(await self._playlist(key), HLS_CONTENT_TYPES[suffix], PLAYLIST_CACHE)
        source = await self._storage.locate(key, self._settings.playback_url_seconds)
        return HlsFile(source, HLS_CONTENT_TYPES[suffix], SEGMENT_CACHE)

    async def _playlist(self, key: str) -> bytes:
        """The playlist as players get it. Where storage serves files itself (S3 presigned
        URLs, a CDN), segment URIs point there, so video bytes never pass through the API;
        otherwise they stay relative and resolve to this API."""
        now = self._clock()
        signed = self._signed.get(key)
        lifetime = self._settings.playback_url_seconds
        if signed is not None and now - signed[0] < lifetime * _RESIGN_SHARE:
            return signed[1]
        text = await self._stored_playlist(key)
        folder = key.rsplit("/", 1)[0]

        def resolve(uri: str) -> str:
            # Playlists always come from here (they may carry signed URLs); only media
            # files go to storage.
            if "://" in uri or uri.startswith("/") or uri.endswith(".m3u8"):
                return uri
            return self._storage.public_url(f"{folder}/{uri}", lifetime) or uri

        body = rewrite_uris(text, resolve).encode()
        _remember(self._signed, key, (now, body))
        return body

    async def _stored_playlist(self, key: str) -> str:
        text = self._stored.get(key)
        if text is None:
            text = (await self._storage.read_bytes(key, _PLAYLIST_LIMIT)).decode()
            _remember(self._stored, key, text)
        return text

    async def _ready(self, video_id: str) -> Video:
        video = await self._videos.get(video_id)
        if video is None:
            raise errors.VideoNotFound(f"no video with id {video_id!r}")
        if video.status is not VideoStatus.READY:
            detail = f": {video.error}" if video.error else ""
            raise errors.VideoNotReady(f"the video is {video.status}{detail}")
        return video


def _remember(cache: OrderedDict[str, T], key: str, value: T) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHED_PLAYLISTS:
        cache.popitem(last=False)


def hls_path(video_id: str, epoch: int, path: str) -> str:
    return f"/v1/videos/{video_id}/hls/e{epoch}/{path}"


def _epoch(video: Video) -> int:
    assert video.published_epoch is not None, "a ready video has a published epoch"
    return video.published_epoch
