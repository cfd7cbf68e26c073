"""The small protocols that every piece of I/O hides behind.

Each has an in-memory twin (``vodstack.adapters.*_memory``) that runs the same contract
tests as the real adapters, so services can be tested without touching a disk or network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vodstack.domain.accounts import Actor, ApiKey, User
from vodstack.domain.captions import Caption
from vodstack.domain.chunks import PartOutput, PartSpec, RungOutput, VideoPlan
from vodstack.domain.direct_uploads import DirectUpload
from vodstack.domain.jobs import JobCounts, JobEvent, JobState, JobStatus, JobView, Lease, Settled
from vodstack.domain.media import EncoderChoice, PartResult, Rung, SourceInfo, TranscodeResult
from vodstack.domain.uploads import PartETag, StoredPart, Upload
from vodstack.domain.videos import Video, VideoChanges
from vodstack.domain.webhooks import Attempt, Endpoint, Outcome, WebhookDelivery

# --- the stores: what the database keeps -------------------------------------------------
#
# Every method is one transaction. A lease holder's writes are fenced: they change nothing
# (and answer False or None) once the job's epoch has moved on. Driver errors leave a store
# as ``errors.DatabaseUnavailable`` (the database is away: try again) or
# ``errors.DatabaseError`` (anything else).


class JobStore(Protocol):
    """Jobs, their leases and their timelines."""

    def now(self) -> datetime:
        """The store's clock, which decides when leases run out."""
        ...

    async def claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        """Lease the oldest due job (or ``video_id``'s): a queued one, or one whose lease
        ran out. Bumps the epoch. Jobs whose lease ran out with no attempt left fail
        first."""
        ...

    async def heartbeat(self, lease: Lease, progress: float) -> bool:
        """Extend the lease; False: it was lost, and the work must stop."""
        ...

    async def record(
        self, lease: Lease, kind: str, reason: str, detail: dict[str, Any] | None = None
    ) -> bool:
        """Add a step of the holder's work to the timeline; False: the lease was lost."""
        ...

    async def warn(self, lease: Lease, warnings: Sequence[str]) -> bool:
        """The video gets these warnings (replacing any earlier attempt's), fenced by the
        lease like ``record``; False: the lease was lost."""
        ...

    async def source_captions(self, lease: Lease, captions: Sequence[Caption]) -> bool:
        """The video's captions from its source become ``captions`` (replacing any earlier
        attempt's; the owner's own stay), fenced by the lease like ``record``. False: the
        lease was lost."""
        ...

    async def publish(
        self,
        lease: Lease,
        renditions: list[dict[str, Any]],
        duration: float,
        encoder: str,
        cover_time: float | None = None,
        receipt: dict[str, Any] | None = None,
    ) -> bool:
        """Make this epoch's outputs the video's, with ``cover_time`` the frame its poster is
        taken from unless the owner chose one. False: the lease was lost."""
        ...

    async def split(self, lease: Lease, plan: VideoPlan) -> bool:
        """The video's job is cut into ``plan``'s parts, each queued as a job of its own
        that writes under this lease's epoch. False: the lease was lost."""
        ...

    async def publish_part(self, lease: Lease, output: PartOutput) -> bool:
        """A part's outputs become its video's (a partial output: the audio so far). The
        video becomes playable, then ready, as its parts allow. False: the lease was
        lost."""
        ...

    async def fail(self, lease: Lease, reason: str) -> bool:
        """The input is unusable: fail at once, no retry. False: the lease was lost."""
        ...

    async def retry_or_fail(self, lease: Lease, reason: str) -> JobStatus | None:
        """A transient error: QUEUED after a backoff, or FAILED when the attempts are
        spent. None: the lease was lost."""
        ...

    async def release(self, lease: Lease, reason: str = "worker shutting down") -> bool:
        """Hand the job back at once, without spending the attempt (a shutdown)."""
        ...

    async def requeue(self, video_id: str) -> bool:
        """A failed video gets a fresh set of attempts. False unless it had failed."""
        ...

    async def reencode(self, video_id: str, parts: Sequence[str], reason: str) -> int:
        """A ready video whose files storage lost is queued to be encoded again, with a
        fresh set of attempts: the whole video, or of a split one its published ``parts``
        (every part when empty), which are no longer listed meanwhile. How many jobs
        were queued: 0 unless it was ready."""
        ...

    async def in_flight(self, video_id: str) -> list[tuple[str, int]]:
        """The video's attempts being worked on now (its jobs that are processing, their
        lease live or not yet taken over): (part key, or "" for its own job, epoch)."""
        ...

    async def events(self, video_id: str) -> list[JobEvent]: ...

    async def state_of(self, video_id: str) -> tuple[bool, JobState | None]:
        """Whether the video exists, and its job's state (None before its upload
        completed)."""
        ...

    async def view(self, video_id: str) -> JobView | None:
        """The job as a person asks about it, with how many due jobs are claimed first."""
        ...

    async def counts(self) -> JobCounts:
        """For the metrics: every state, with 0 when no job is in it."""
        ...


class UploadStore(Protocol):
    """Uploads, and the videos they create."""

    async def create(self, video: Video, upload: Upload) -> None: ...

    async def get(self, upload_id: str) -> Upload | None: ...

    async def active_before(self, cutoff: datetime, limit: int = 100) -> list[Upload]:
        """Uploads still open that were created before ``cutoff``, oldest first."""
        ...

    async def completed_parts(self, upload_id: str) -> list[StoredPart]: ...

    async def complete(
        self,
        upload: Upload,
        parts: Sequence[StoredPart],
        max_attempts: int,
        now: datetime,
        trace_context: str | None = None,
    ) -> bool:
        """Mark the upload complete and queue its video's job, together. False when
        another request completed (or aborted) it first."""
        ...

    async def abort(self, upload: Upload, now: datetime) -> bool:
        """Mark the upload aborted and forget its video. False unless it was active."""
        ...


class VideoStore(Protocol):
    """Videos as users see them, with their job's progress and published epoch."""

    async def get(self, video_id: str) -> Video | None: ...

    async def ready_after(self, after: str, limit: int = 100) -> list[Video]:
        """Ready videos whose id sorts after ``after``, by id: every one, a page at a
        time."""
        ...

    async def list(self, actor: Actor, limit: int = 100) -> list[Video]:
        """What ``actor`` may list, newest first: an admin (or the system) everything, a
        user their own videos, anyone else the public videos that are ready."""
        ...

    async def update(self, video_id: str, changes: VideoChanges, now: datetime) -> None: ...

    async def parts(self, video_id: str) -> tuple[VideoPlan, dict[str, PartOutput]] | None:
        """A split video's plan and what its parts published so far, by part key; None
        for a video encoded in one piece."""
        ...

    async def delete(self, video_id: str, now: datetime) -> None:
        """The video, its job and timeline; its upload stays, marked with no video. Its
        ``video.deleted`` event is written in the same transaction."""
        ...


class CaptionStore(Protocol):
    """Videos' text tracks. A change bumps the video's ``updated_at``, the version that
    the play side caches a video's playlists under. A video's go with it."""

    async def add(self, caption: Caption) -> bool:
        """False if the video is gone."""
        ...

    async def list(self, video_id: str) -> list[Caption]:
        """Oldest first."""
        ...

    async def remove(self, video_id: str, caption_id: str, now: datetime) -> bool:
        """Whether the video had that caption."""
        ...


class AccountStore(Protocol):
    """Users and the hashes of their API keys."""

    async def create_user(self, user: User, key_id: str, secret_hash: str, now: datetime) -> None:
        """Raises Conflict when the name is taken. The user's first key is named "default"
        and holds the user's full rights."""
        ...

    async def key(self, key_id: str) -> tuple[User, ApiKey, str] | None:
        """The key's user, its record and the hash of its secret, revoked or not."""
        ...

    async def add_key(self, key: ApiKey, secret_hash: str) -> None:
        """Raises Conflict when the id is taken."""
        ...

    async def keys(self, user_id: str) -> list[ApiKey]:
        """The user's keys that are not revoked, oldest first."""
        ...

    async def revoke_key(self, key_id: str, user_id: str | None, now: datetime) -> bool:
        """Revoke a key that is not revoked yet (only if ``user_id``'s, unless None);
        whether one was."""
        ...

    async def touch_key(self, key_id: str, now: datetime) -> None:
        """Record that the key was used at ``now``."""
        ...

    async def users(self) -> list[User]:
        """Every user, by name."""
        ...

    async def count(self) -> int:
        """How many users exist."""
        ...


class DirectUploadStore(Protocol):
    """Direct uploads: what each token may upload, and whether it did."""

    async def create(self, direct: DirectUpload) -> None: ...

    async def get(self, direct_id: str) -> DirectUpload | None: ...

    async def claim(self, direct_id: str, upload_id: str, video_id: str) -> bool:
        """Tie the direct upload to its one upload; False if it already has one."""
        ...

    async def finish(self, direct_id: str, now: datetime) -> bool:
        """Mark the token used; False if it already was."""
        ...


class WebhookStore(Protocol):
    """Users' webhook endpoints and the outbox of their deliveries. The outbox rows are
    written by the other stores, in the transaction of the change they tell of."""

    async def create(self, endpoint: Endpoint) -> None: ...

    async def endpoints(self, owner_id: str) -> list[Endpoint]: ...

    async def endpoint(self, endpoint_id: str) -> Endpoint | None: ...

    async def remove(self, endpoint_id: str) -> bool: ...

    async def rotate(self, endpoint_id: str, secret: str, now: datetime) -> Endpoint | None:
        """``secret`` signs from now on; the old one too, for the rotation's grace."""
        ...

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[WebhookDelivery]:
        """The newest first, each with its attempts."""
        ...

    async def redeliver(self, endpoint_id: str, delivery_id: str, now: datetime) -> bool:
        """The delivery is due again now, with the same id and body."""
        ...

    async def prune(self, before: datetime) -> int:
        """Remove the deliveries created before ``before`` that are settled (delivered, or
        failed for good), with their attempts; how many."""
        ...

    async def claim(
        self, owner: str, now: datetime, lease_seconds: float
    ) -> tuple[WebhookDelivery, Endpoint] | None:
        """The oldest due delivery, leased to ``owner`` so no other process sends it
        meanwhile; a lease that ran out (its holder died) is taken over."""
        ...

    async def settle(
        self, delivery: WebhookDelivery, owner: str, attempt: Attempt, outcome: Outcome
    ) -> bool:
        """Record one attempt and what follows; False if ``owner`` lost the lease."""
        ...


class WorkerRoster(Protocol):
    """The workers alive and their job slots, shared by every worker on the database: a
    video is cut into parts for the slots that will encode them. A worker renews its
    enrolment while it runs; one that stops renewing (killed, or cut off from the
    database) drops out of the count when its enrolment runs out."""

    async def enroll(self, worker: str, slots: int, alive_seconds: float) -> None:
        """``worker`` has ``slots`` slots and counts as alive for ``alive_seconds`` from
        now, replacing its earlier enrolment. Enrolments long run out are forgotten."""
        ...

    async def withdraw(self, worker: str) -> None:
        """``worker`` stops: its slots count no more."""
        ...

    async def live_slots(self) -> int:
        """The slots of every worker whose enrolment has not run out."""
        ...


class RateLimitStore(Protocol):
    """Requests counted per limit, caller and whole minute since the epoch, shared by every
    process on the database, so that N API processes allow the rate once, not N times."""

    async def counted(self, name: str, caller: str, minute: int) -> int:
        """How many of ``caller``'s requests ``name`` counted in ``minute``."""
        ...

    async def take(self, name: str, caller: str, minute: int, most: int) -> int | None:
        """Count one request in ``minute`` unless ``most`` are counted there already, as
        one atomic step; the count with it, or None when refused (nothing is counted).
        Minutes before ``minute - 1`` are forgotten now and then."""
        ...


@dataclass(frozen=True, slots=True)
class SendResult:
    """A webhook receiver's answer: its status code, or why there was none."""

    status_code: int | None
    error: str | None = None
    excerpt: str = ""


class WebhookSender(Protocol):
    """Sends one webhook request, to a public address only unless told otherwise."""

    async def addresses_problem(self, url: str) -> str | None:
        """Why ``url``'s host may not be a webhook's (as it resolves now); None if it may."""
        ...

    async def send(self, url: str, headers: dict[str, str], body: str) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database: the SQL ones, or their in-memory twins."""

    jobs: JobStore
    uploads: UploadStore
    videos: VideoStore
    accounts: AccountStore
    webhooks: WebhookStore
    direct_uploads: DirectUploadStore
    captions: CaptionStore
    rate_limits: RateLimitStore
    workers: WorkerRoster


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
    modified: datetime | None = None  # when it was written, where a listing says


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

    def iterate(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` (a folder ending in ``/``, or "" for all), once,
        with its size and when it was written, the objects of one folder next to each
        other. Read a page at a time: never every key at once."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the object at exactly ``key`` (never others that start with it); whether
        there was one."""
        ...

    async def locate(
        self, key: str, expires_in: int, download_as: str | None = None
    ) -> Path | str | bytes:
        """How a reader gets the object: a local file to send (with ranges), a URL to
        redirect to (a presigned S3 URL), or the bytes themselves. ``download_as``: a URL
        makes the browser save it under that name (the caller sends the header for the
        others). Raises ObjectNotFound."""
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


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased job, and the queue message that named it, if one did."""

    lease: Lease
    delivery: Delivery | None = None


class JobSource(Protocol):
    """Where a worker finds work: the jobs table itself, or a message queue in front of it.
    The worker loop knows nothing else about either."""

    # The longest a ``claim`` may wait, so the worker can tell a slot that waits from one
    # that is stuck.
    longest_wait: float

    async def claim(self, owner: str, stopping: asyncio.Event, *, wait: bool) -> Claim | None:
        """A leased job, or None when none is due. With ``wait``, first waits for one, up
        to the source's poll interval or until ``stopping`` is set."""
        ...

    async def keep(self, claim: Claim) -> None:
        """The job is still being worked on (after every heartbeat that renewed it)."""
        ...

    async def settle(self, claim: Claim, settled: Settled) -> None:
        """How the attempt ended, once that is committed to the database."""
        ...


class FrameGrabber(Protocol):
    """One frame of a published rendition as a JPEG: the thumbnails' maker."""

    async def grab(self, media: Path, offset: float, width: int, out: Path) -> None:
        """Write the frame ``offset`` seconds into ``media`` (an init segment followed by
        one media segment), scaled down to at most ``width`` wide, to ``out``. Raises
        TranscodeFailed when it cannot."""
        ...


ProgressCallback = Callable[[float], None]
# Hears the command line as ``domain.ffmpeg_args.public_command`` shows it: no machine path.
CommandCallback = Callable[[str, EncoderChoice], Awaitable[None]]
OutputCallback = Callable[[RungOutput], Awaitable[None]]


class Transcoder(Protocol):
    """Probe a source and turn it into an HLS ladder in a local folder."""

    async def probe(self, source: Path) -> SourceInfo:
        """Raises InvalidMedia, with a reason a person understands, for unusable input."""
        ...

    async def extract_subtitles(
        self, source: Path, tracks: Sequence[int], out_dir: Path
    ) -> dict[int, Path]:
        """The source's subtitle ``tracks`` (``0:s:N``) as WebVTT files in ``out_dir``, by
        track, from one ffmpeg run that decodes no picture. Raises TranscodeFailed."""
        ...

    async def plan_ladder(self, source: Path, info: SourceInfo) -> list[Rung]:
        """The rungs ``source`` is encoded to, highest first, with their rate control
        (which a short analysis of the source may fit). Raises InvalidMedia."""
        ...

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        *,
        ladder: Sequence[Rung] | None = None,
    ) -> TranscodeResult:
        """One ffmpeg process: decode once, every rung of ``ladder`` (or of the one
        ``plan_ladder`` gives), the master playlist last. ``on_command`` hears the
        command line before it runs, as the receipt shows it. Cancelling the awaiting
        task kills ffmpeg. Raises TranscodeFailed (retryable)."""
        ...

    async def transcode_part(
        self,
        source: Path | str,
        plan: VideoPlan,
        part: PartSpec,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        on_output: OutputCallback | None = None,
    ) -> PartResult:
        """One part of a split video, read from ``source`` (a local file, or a URL that
        ffmpeg reads in ranges): a chunk's rungs from one decode, or the whole audio, whose
        segments so far ``on_output`` hears while it encodes."""
        ...
