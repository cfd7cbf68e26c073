"""Videos as users see them: pure records, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from vodstack.domain.accounts import Visibility

HLS_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    # The storyboard: a WebVTT of thumbnails, and the sheets of tiles it points at.
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
}


class VideoStatus(StrEnum):
    UPLOADING = "uploading"
    QUEUED = "queued"
    PROCESSING = "processing"
    PLAYABLE = "playable"  # its first chunks are published; the rest are being encoded
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Video:
    id: str
    title: str
    description: str
    filename: str
    content_type: str | None
    size: int
    source_key: str
    status: VideoStatus
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    duration: float | None = None
    progress: float = 0.0
    renditions: list[dict[str, Any]] = field(default_factory=list)
    published_epoch: int | None = None
    owner_id: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    chunked: bool = False  # encoded in parts: its playlists are assembled from them
    # What its probe found that the owner must be told though the video still plays, such
    # as a truncated source; the latest attempt's only.
    warnings: tuple[str, ...] = ()
    # The poster's frame, in seconds: the owner's choice, else the one the worker found
    # most representative (see ``domain.pictures``); None for both before it has one.
    poster_time: float | None = None
    cover_time: float | None = None
    # Its quality receipt as published (``domain.quality.Receipt.to_json``); None before
    # it is ready, and for videos published before receipts.
    receipt: dict[str, Any] | None = None

    @property
    def poster_at(self) -> float:
        """Where the poster is taken from: the owner's choice, then the worker's."""
        if self.poster_time is not None:
            return self.poster_time
        if self.cover_time is not None:
            return self.cover_time
        return 0.0


def public_fields(video: Video) -> dict[str, Any]:
    """What anyone told of a video reads, in the API and in webhooks alike (the API adds
    the encoding estimate)."""
    return {
        "id": video.id,
        "title": video.title,
        "description": video.description,
        "filename": video.filename,
        "size": video.size,
        "status": video.status,
        "visibility": video.visibility,
        "progress": video.progress,
        "error": video.error,
        "duration": video.duration,
        "renditions": video.renditions,
        "warnings": list(video.warnings),
        "poster_time": video.poster_time,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
    }


@dataclass(frozen=True, slots=True)
class Encoding:
    """How far a split video's encoding is: the renditions still to come, and about how
    long they take at the pace so far."""

    pending: tuple[str, ...]
    ready_in_seconds: float | None


def ready_in(done: float, elapsed: float) -> float | None:
    """The rest of the work at the pace of what is done; None before anything is."""
    if done <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (1 - done) / done)


@dataclass(frozen=True, slots=True)
class VideoChanges:
    """What a person may change about a video; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    visibility: Visibility | None = None
    poster_time: float | None = None

    def __bool__(self) -> bool:
        fields = (self.title, self.description, self.visibility, self.poster_time)
        return any(v is not None for v in fields)


def source_key(video_id: str) -> str:
    """Where a video's original lives. The user's filename never becomes part of a key."""
    return f"sources/{video_id}/source"


def output_prefix(video_id: str, epoch: int) -> str:
    """Each attempt writes under its own epoch, so a stale worker never touches the
    outputs that were published."""
    return f"outputs/{video_id}/e{epoch}"


def attachment(filename: str) -> str:
    """A Content-Disposition that saves a download under the uploader's file name (RFC
    6266): a plain ASCII name for every client, and the exact one, percent-encoded, for
    those that read ``filename*``."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{plain or 'video'}\"; filename*=UTF-8''{quote(filename)}"
