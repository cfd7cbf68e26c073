"""The small protocols that every piece of I/O hides behind.

Each has an in-memory twin (``vodstack.adapters.*_memory``) that runs the same contract
tests as the real adapters, so services can be tested without touching a disk or network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from vodstack.domain.media import EncoderChoice, SourceInfo, TranscodeResult
from vodstack.domain.uploads import PartETag, StoredPart


@dataclass(frozen=True, slots=True)
class PresignedRequest:
    """Everything a client needs to send one part straight to storage."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


class Storage(Protocol):
    """Object storage with S3's multipart semantics. Keys are ``/``-separated and chosen by
    vodstack, never by users. Multipart ``upload_id``s are storage's own opaque strings."""

    async def create_multipart(self, key: str, content_type: str | None) -> str: ...

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, max_size: int, expires_in: int
    ) -> PresignedRequest: ...

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        """Parts held so far, in part-number order. Raises NoSuchMultipartUpload."""
        ...

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartETag]
    ) -> ObjectInfo:
        """Join the parts into the object at ``key``, checking order and every ETag.
        Raises NoSuchMultipartUpload, InvalidPartOrder, MissingParts or EtagMismatch."""
        ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Remove the upload and its parts. Aborting an unknown upload is not an error."""
        ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def download_file(self, key: str, path: Path) -> None:
        """Stream the object into a local file. Raises ObjectNotFound."""
        ...

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        """Stream a local file into the object at ``key``, replacing it atomically."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many."""
        ...

    async def locate(self, key: str, expires_in: int) -> Path | str | bytes:
        """How a reader gets the object: a local file to send (with ranges), a URL to
        redirect to (a presigned S3 URL), or the bytes themselves. Raises ObjectNotFound."""
        ...

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        """A URL where clients fetch the object straight from storage (presigned, or on a
        CDN), or None when the play API serves it. ``private``: never an unsigned CDN URL.
        Pure computation: no request is made."""
        ...

    async def read_bytes(self, key: str, limit: int) -> bytes:
        """A small object's bytes (a playlist). Raises ObjectNotFound, or PayloadTooLarge
        past ``limit``."""
        ...

    async def check(self) -> None:
        """Raise ConfigurationError, naming the problem, unless storage is usable."""
        ...


@runtime_checkable
class PartReceiver(Protocol):
    """Storage that cannot take a presigned PUT by itself (a local directory) receives the
    part through the upload service, which checks the signature and streams the body in."""

    async def receive_part(
        self,
        upload_id: str,
        part_number: int,
        max_size: int,
        expires: int,
        signature: str,
        body: AsyncIterator[bytes],
    ) -> StoredPart: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received queue message: the video it names (None when it is not ours or is
    malformed: settle it and move on) and the handle that settles it."""

    video_id: str | None
    receipt: str
    receive_count: int = 1
    body: str = ""


class JobSignal(Protocol):
    """Tells workers that a video's job can be claimed. Sending twice is harmless."""

    async def send(self, video_id: str) -> None: ...


class Queue(JobSignal, Protocol):
    """A message queue with SQS's semantics: a received message is hidden for a while and
    comes back unless it is acknowledged. The database row stays the truth about a job; a
    message only says which video to look at."""

    async def receive(self, wait_seconds: float) -> Delivery | None: ...

    async def extend(self, delivery: Delivery, seconds: float) -> None:
        """Keep the message hidden for ``seconds`` from now (the job is being worked on)."""
        ...

    async def release(self, delivery: Delivery, delay_seconds: float) -> None:
        """Let the message come back after ``delay_seconds``."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """Delete the message: its job is settled in the database."""
        ...

    async def dead_letter(self, delivery: Delivery) -> None:
        """Move the message to the dead-letter queue: its job failed for good."""
        ...

    async def check(self) -> None: ...

    async def close(self) -> None: ...


class Wakeup(JobSignal, Protocol):
    """Without a message queue the jobs table is the queue; this only shortens an idle
    worker's wait (PostgreSQL's LISTEN/NOTIFY, or an in-process event)."""

    async def wait(self, seconds: float) -> None:
        """Return when a job was signalled, or after ``seconds``."""
        ...

    async def close(self) -> None: ...


ProgressCallback = Callable[[float], None]
CommandCallback = Callable[[list[str], EncoderChoice], Awaitable[None]]


class Transcoder(Protocol):
    """Probe a source and turn it into an HLS ladder in a local folder."""

    async def probe(self, source: Path) -> SourceInfo:
        """Raises InvalidMedia, with a reason a person understands, for unusable input."""
        ...

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
    ) -> TranscodeResult:
        """One ffmpeg process: decode once, every rung, the master playlist last.
        ``on_command`` hears the exact command line before it runs. Cancelling the awaiting
        task kills ffmpeg. Raises TranscodeFailed (retryable)."""
        ...
