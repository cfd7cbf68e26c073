"""Thumbnails and the poster, made on demand from the published ladder and kept in storage.

A picture is one frame of one segment of the smallest rendition at least as wide as asked
for: ffmpeg decodes that segment alone, a fraction of a second. It is stored under the
published epoch, so each is made once; this process also remembers which it has seen, so
a picture that exists costs no lookup. The same rules as playback decide who sees it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

from vodstack import errors
from vodstack.domain.accounts import Actor
from vodstack.domain.thumbnails import (
    DEFAULT_WIDTH,
    TIME_STEP,
    check_width,
    frame_source,
    rendition_for,
    rounded_time,
    thumbnail_key,
)
from vodstack.domain.videos import Video, output_prefix
from vodstack.ports import FrameGrabber, Storage
from vodstack.services.playback import HlsFile, PlaybackService, playing_epoch
from vodstack.services.ratelimit import RateLimiter

JPEG = "image/jpeg"
# The poster may be chosen again at any time; a picture of a given time never changes.
POSTER_CACHE = "max-age=60"
PICTURE_CACHE = "max-age=86400"
_KNOWN = 16_384
# ffmpeg runs at once per process at most: a burst of new pictures queues, not the CPU.
GRABS_AT_ONCE = 2


class ThumbnailService:
    def __init__(
        self,
        playback: PlaybackService,
        storage: Storage,
        grabber: FrameGrabber,
        limit: RateLimiter | None = None,
    ) -> None:
        # Every new time is a new picture and an ffmpeg run: the limit stops a client that
        # walks through the times of a video from taking the CPU; kept pictures are free.
        self._limit = limit
        self._playback = playback
        self._storage = storage
        self._grabber = grabber
        self._known: OrderedDict[str, None] = OrderedDict()
        self._making: dict[str, asyncio.Future[bytes]] = {}
        self._gate = asyncio.Semaphore(GRABS_AT_ONCE)

    async def thumbnail(
        self,
        video_id: str,
        actor: Actor,
        width: int | None,
        seconds: float | None,
        token: str | None = None,
        ip: str | None = None,
    ) -> HlsFile:
        """The picture at ``seconds`` (None: the poster), ``width`` wide (None: the
        default), for whoever may play the video (as ``PlaybackService.viewable`` says)."""
        video, grant = await self._playback.viewable(video_id, actor, token, ip)
        try:
            width = check_width(DEFAULT_WIDTH if width is None else width)
            at = rounded_time(_poster_time(video) if seconds is None else seconds, video.duration)
        except ValueError as exc:
            raise errors.InvalidRequest(str(exc)) from exc
        key = thumbnail_key(output_prefix(video.id, playing_epoch(video)), width, at)
        visibility = "private" if grant is not None else "public"
        cache = f"{visibility}, {POSTER_CACHE if seconds is None else PICTURE_CACHE}"
        if key in self._known or await self._storage.head(key) is not None:
            self._remember(key)
            source = await self._storage.locate(key, self._playback.url_lifetime(grant))
            return HlsFile(source, JPEG, cache)
        if self._limit is not None:
            await self._limit.take(ip or "")
        return HlsFile(await self._made_once(video, width, at, key), JPEG, cache)

    async def _made_once(self, video: Video, width: int, at: float, key: str) -> bytes:
        """Made by one request; any other asking for it meanwhile waits for that one."""
        making = self._making.get(key)
        if making is not None:
            return await asyncio.shield(making)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        try:
            async with self._gate:
                picture = await self._make(video, width, at, key)
            future.set_result(picture)
            self._remember(key)
            return picture
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no one else may be waiting for it
            raise
        finally:
            del self._making[key]

    async def _make(self, video: Video, width: int, at: float, key: str) -> bytes:
        rendition = rendition_for(video.renditions, width)
        path = str(rendition["playlist"])
        playlist = await self._playback.media_playlist(video, path)
        where = frame_source(playlist, path.rpartition("/")[0], at)
        prefix = output_prefix(video.id, playing_epoch(video))
        with tempfile.TemporaryDirectory(prefix="vodstack-thumbnail-") as folder:
            work = Path(folder)
            await self._storage.download_file(f"{prefix}/{where.init}", work / "init.mp4")
            await self._storage.download_file(f"{prefix}/{where.segment}", work / "segment.m4s")
            media = work / "media.mp4"
            await asyncio.to_thread(_join, media, work / "init.mp4", work / "segment.m4s")
            out = work / "picture.jpg"
            await self._grabber.grab(media, where.offset, width, out)
            await self._storage.upload_file(out, key, JPEG)
            return await asyncio.to_thread(out.read_bytes)

    def _remember(self, key: str) -> None:
        self._known[key] = None
        self._known.move_to_end(key)
        while len(self._known) > _KNOWN:
            self._known.popitem(last=False)


def _poster_time(video: Video) -> float:
    """The poster's frame, inside the video whatever was stored."""
    at = video.poster_at
    if video.duration is not None:
        at = min(at, max(0.0, video.duration - TIME_STEP))
    return max(0.0, at)


def _join(out: Path, *parts: Path) -> None:
    """An init segment and a media segment, one after the other, make a playable file."""
    with out.open("wb") as joined:
        for part in parts:
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, joined)
