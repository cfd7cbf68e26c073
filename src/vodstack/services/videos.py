"""Use cases on videos, each checked against who asks: list, read, change, delete, retry,
read the timeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import Actor, Anonymous, Scope, can_manage, can_see, require_scope
from vodstack.domain.chunks import assemble
from vodstack.domain.jobs import JobEvent, JobView, explain
from vodstack.domain.videos import Encoding, Video, VideoChanges, VideoStatus, ready_in
from vodstack.ports import JobSignal, JobStore, Storage, VideoStore

# A download link to the original lasts this long: long enough for a large file to finish.
SOURCE_URL_SECONDS = 6 * 3600


class VideoService:
    def __init__(
        self,
        videos: VideoStore,
        jobs: JobStore,
        storage: Storage,
        signal: JobSignal,
        clock: Clock = utc_now,
        changed: Callable[[str], None] = lambda video_id: None,
    ) -> None:
        self._videos = videos
        self._jobs = jobs
        self._storage = storage
        self._signal = signal
        self._clock = clock
        # Told of every change to who may watch a video, so caches in this process let go.
        self._changed = changed

    async def list_videos(self, actor: Actor, limit: int) -> list[Video]:
        require_scope(actor, Scope.READ)
        return await self._videos.list(actor, limit)

    async def visible(self, video_id: str, actor: Actor) -> Video:
        """The video, unless it is private and not ``actor``'s: then, as if it did not
        exist, so that a private video's id reveals nothing."""
        require_scope(actor, Scope.READ)
        return await self._seen(video_id, actor)

    async def _seen(self, video_id: str, actor: Actor) -> Video:
        video = await self._videos.get(video_id)
        if video is None or not can_see(actor, video.owner_id, video.visibility):
            raise errors.VideoNotFound.named(video_id)
        return video

    async def encoding(self, video: Video) -> Encoding | None:
        """For a split video that is not ready yet: what is still to come, and when."""
        if not video.chunked or video.status not in (VideoStatus.PROCESSING, VideoStatus.PLAYABLE):
            return None
        found = await self._videos.parts(video.id)
        view = await self._jobs.view(video.id)
        if found is None or view is None:
            return None
        assembly = assemble(*found)
        elapsed = (self._clock() - view.state.available_at).total_seconds()
        return Encoding(assembly.pending, ready_in(assembly.done, elapsed))

    async def managed(self, video_id: str, actor: Actor, scope: Scope = Scope.MANAGE) -> Video:
        """The video, if ``actor`` owns it or is an admin, and holds ``scope``."""
        if isinstance(actor, Anonymous):
            raise errors.Unauthorized()
        require_scope(actor, scope)
        video = await self._seen(video_id, actor)
        if not can_manage(actor, video.owner_id):
            raise errors.Forbidden("only the video's owner or an admin may do that")
        return video

    async def source(self, video_id: str, actor: Actor) -> tuple[Video, Path | str | bytes]:
        """The original file as uploaded, for its owner (or an admin): where storage has
        it, a URL that expires, or its bytes."""
        video = await self.managed(video_id, actor, Scope.READ)
        if video.status is VideoStatus.UPLOADING:
            raise errors.Conflict("the upload is not complete: there is no source yet")
        located = await self._storage.locate(
            video.source_key, SOURCE_URL_SECONDS, download_as=video.filename
        )
        return video, located

    async def timeline(
        self, video_id: str, actor: Actor
    ) -> tuple[list[JobEvent], tuple[JobView, str] | None]:
        """The job's events, and the job with one sentence on where it stands (None before
        the upload completed)."""
        await self.managed(video_id, actor, Scope.READ)
        events = await self._jobs.events(video_id)
        view = await self._jobs.view(video_id)
        return events, None if view is None else (view, explain(view, self._clock()))

    async def retry(self, video_id: str, actor: Actor) -> Video:
        video = await self.managed(video_id, actor)
        if not await self._jobs.requeue(video_id):
            raise errors.Conflict(f"only a failed video can be retried; this one is {video.status}")
        await self._signal.send(video_id)
        return await self.managed(video_id, actor)

    async def update(self, video_id: str, actor: Actor, changes: VideoChanges) -> Video:
        video = await self.managed(video_id, actor)
        if changes.poster_time is not None:
            _check_poster_time(video, changes.poster_time)
        if changes.title is not None:
            if not changes.title.strip():
                raise errors.InvalidRequest("a title cannot be empty")
            changes = dataclasses.replace(changes, title=changes.title.strip())
        if changes:
            await self._videos.update(video_id, changes, self._clock())
            self._changed(video_id)
        return await self.managed(video_id, actor)

    async def delete(self, video_id: str, actor: Actor) -> None:
        """The source and every output go, then the records. A worker still encoding it
        loses its lease with the job row and publishes nothing."""
        await self.managed(video_id, actor)
        for prefix in (f"sources/{video_id}/", f"outputs/{video_id}/", f"captions/{video_id}/"):
            await self._storage.delete_prefix(prefix)
        await self._videos.delete(video_id, self._clock())
        self._changed(video_id)


def _check_poster_time(video: Video, seconds: float) -> None:
    if video.duration is None:
        raise errors.InvalidRequest(
            "a poster frame can be chosen once the video is encoded: it has no duration yet"
        )
    if seconds > video.duration:
        raise errors.InvalidRequest(
            f"poster_time is {seconds:g} s, past the end of the video ({video.duration:.3f} s)"
        )
