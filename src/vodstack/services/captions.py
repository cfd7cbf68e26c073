"""Use cases on a video's captions, each checked against who asks: list them, add one from
an SRT or WebVTT file (stored as WebVTT), remove one."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import Actor
from vodstack.domain.captions import (
    MAX_CAPTION_BYTES,
    Caption,
    CaptionError,
    CaptionOrigin,
    caption_key,
    check_language,
    check_name,
    parse_captions,
    render_webvtt,
)
from vodstack.ports import CaptionStore, Storage
from vodstack.services.videos import VideoService

VTT_CONTENT_TYPE = "text/vtt"


class CaptionService:
    def __init__(
        self,
        captions: CaptionStore,
        videos: VideoService,
        storage: Storage,
        clock: Clock = utc_now,
        changed: Callable[[str], None] = lambda video_id: None,
    ) -> None:
        self._captions = captions
        self._videos = videos
        self._storage = storage
        self._clock = clock
        # Told of every change, so the play side's cached master playlists let go.
        self._changed = changed

    async def list(self, video_id: str, actor: Actor) -> list[Caption]:
        """Whoever may see the video may see its captions."""
        await self._videos.visible(video_id, actor)
        return await self._captions.list(video_id)

    async def add(
        self, video_id: str, actor: Actor, language: str, name: str, data: bytes
    ) -> Caption:
        """A caption from an SRT or WebVTT file; the reader's words say what is wrong with
        a file it refuses."""
        await self._videos.managed(video_id, actor)
        if len(data) > MAX_CAPTION_BYTES:
            raise errors.PayloadTooLarge(
                f"a caption file may be at most {MAX_CAPTION_BYTES // 2**20} MiB"
            )
        try:
            language, name = check_language(language), check_name(name)
            cues = parse_captions(data)
        except CaptionError as exc:
            raise errors.InvalidRequest(f"the caption file cannot be used: {exc}") from exc
        caption = Caption(
            uuid.uuid4().hex, video_id, language, name, CaptionOrigin.UPLOAD, self._clock()
        )
        key = caption_key(video_id, caption.id)
        await _store_text(self._storage, key, render_webvtt(cues))
        if not await self._captions.add(caption):  # the video was deleted meanwhile
            await self._storage.delete_prefix(key)
            raise errors.VideoNotFound.named(video_id)
        self._changed(video_id)
        return caption

    async def delete(self, video_id: str, caption_id: str, actor: Actor) -> None:
        await self._videos.managed(video_id, actor)
        if not await self._captions.remove(video_id, caption_id, self._clock()):
            raise errors.NotFound(f"the video has no caption with id {caption_id!r}")
        self._changed(video_id)
        await self._storage.delete_prefix(caption_key(video_id, caption_id))


async def _store_text(storage: Storage, key: str, text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="vodstack-caption-") as folder:
        path = Path(folder) / "caption.vtt"
        await asyncio.to_thread(path.write_text, text, "utf-8")
        await storage.upload_file(path, key, VTT_CONTENT_TYPE)
