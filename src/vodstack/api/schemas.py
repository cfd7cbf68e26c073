"""The JSON shapes of the HTTP API: ...Create for what comes in, ...Public for what goes out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from vodstack.domain.accounts import MAX_KEY_SECONDS, Scope, Visibility


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json_number(value: object) -> object:
    # JSON's true is not the integer 1, nor "3" the integer 3, whatever Python thinks.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected an integer")
    return value


# An integer as JSON Schema means it: 3 and 3.0 are, "3" and true are not.
JsonInt = Annotated[int, BeforeValidator(_json_number)]


class _Request(_Schema):
    """A body that comes in."""


# PostgreSQL cannot store a NUL character in text, so the text the API keeps never holds
# one. (A filename with one is refused by the filename rules, with their own error.)
NO_NUL = r"^[^\x00]*$"


class UploadCreate(_Request):
    filename: str = Field(max_length=1024)
    size: JsonInt
    content_type: str | None = Field(default=None, max_length=127, pattern=NO_NUL)
    title: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    description: str = Field(default="", max_length=5000, pattern=NO_NUL)
    visibility: Visibility = Visibility.PUBLIC


class DirectUploadCreate(_Request):
    title: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    description: str = Field(default="", max_length=5000, pattern=NO_NUL)
    visibility: Visibility = Visibility.PUBLIC
    max_size: JsonInt | None = None
    expires_in: JsonInt | None = None


class DirectUploadCreated(_Schema):
    id: str
    # The upload page, holding the token: hand this to whoever uploads.
    upload_url: str
    # Send it as "Authorization: Bearer <token>" to the upload routes, and nowhere else.
    token: str
    expires_at: datetime
    max_size: int


class DirectUploadPublic(_Schema):
    """What a direct-upload token allows, as its holder sees it."""

    id: str
    owner: str  # the name of the user the video will belong to
    title: str | None
    visibility: Visibility
    max_size: int
    expires_at: datetime
    upload_id: str | None


class VideoUpdate(_Request):
    title: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    description: str | None = Field(default=None, max_length=5000, pattern=NO_NUL)
    visibility: Visibility | None = None
    # Seconds into the video: its poster is taken from that frame from then on.
    poster_time: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class PlaybackTokenCreate(_Request):
    expires_in: JsonInt = Field(default=3600, ge=60, le=7 * 24 * 3600)
    viewer: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    bind_ip: StrictBool = False


class KeyCreate(_Request):
    name: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    # None: all the rights of whoever asks.
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=len(Scope))
    # The bounds come before the validator, or JSON Schema gets no minimum and maximum.
    expires_in: (
        Annotated[int, Field(ge=1, le=MAX_KEY_SECONDS), BeforeValidator(_json_number)] | None
    ) = None


class KeyPublic(_Schema):
    id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="the key itself: shown only this once")


class KeyList(_Schema):
    keys: list[KeyPublic]


class PlaybackTokenPublic(_Schema):
    token: str
    expires_at: datetime
    master_url: str


class UploadCreated(_Schema):
    video_id: str
    upload_id: str
    part_size: int
    part_count: int


class PartsRequest(_Request):
    part_numbers: list[JsonInt] = Field(max_length=10_000)


class PresignedPartPublic(_Schema):
    part_number: int
    url: str
    method: str
    headers: dict[str, str]


class PartsPublic(_Schema):
    parts: list[PresignedPartPublic]


class StoredPartPublic(_Schema):
    part_number: int
    etag: str
    size: int


class UploadStatePublic(_Schema):
    upload_id: str
    video_id: str | None
    status: str
    size: int
    part_size: int
    part_count: int
    parts: list[StoredPartPublic]


class CompletedPart(_Request):
    part_number: JsonInt
    etag: str = Field(max_length=128, pattern=NO_NUL)


class UploadComplete(_Request):
    parts: list[CompletedPart] = Field(max_length=10_000)


class VideoAccepted(_Schema):
    video_id: str
    status: str


class EncodingPublic(_Schema):
    pending_renditions: list[str] = Field(description="renditions not listed yet")
    ready_in_seconds: int | None = Field(description="about how long until ready")


class RungReceiptPublic(BaseModel):
    """One rung of a quality receipt (see docs/processing.md, "The quality receipt")."""

    rung: str
    width: int
    height: int
    crf: int | None = Field(description="its constant rate factor; null: a fixed bitrate")
    maxrate: int
    frames: int = Field(description="sampled frames compared with the source")
    vmaf: float | None
    vmaf_min: float | None
    psnr: float | None
    declared_bandwidth: int
    declared_average_bandwidth: int
    peak_bitrate: int
    average_bitrate: int
    peak_to_average: float
    segments: int
    longest_segment: float
    idr_aligned: bool
    published: bool
    problems: list[str] = Field(description="the rules it broke: then it is not published")
    notes: list[str]


class ReceiptPublic(BaseModel):
    rungs: list[RungReceiptPublic]
    ffmpeg_version: str
    command: str = Field(description="the full command line, the worker's folders named")
    source_sha256: str | None
    encode_seconds: float
    measure_seconds: float
    cost: float | None = Field(description="measure_seconds over encode_seconds")
    min_vmaf: float


class CaptionPublic(_Schema):
    id: str
    language: str = Field(description="a BCP 47 language tag, such as en or pt-BR")
    name: str = Field(description="what players show in their list of text tracks")
    origin: str = Field(description="source: a subtitle track of the upload; upload: added")


class CaptionList(_Schema):
    captions: list[CaptionPublic]


class VideoPublic(_Schema):
    id: str
    title: str
    description: str
    filename: str
    size: int
    status: str
    visibility: Visibility
    progress: float
    error: str | None
    duration: float | None
    renditions: list[dict[str, Any]]
    warnings: list[str] = Field(
        description="what processing found that does not fail the video but that its owner "
        "should know, such as a truncated source; empty when nothing was found",
    )
    poster_time: float | None = Field(
        description="the frame the owner chose for the poster, in seconds; null: the one "
        "the worker found most representative",
    )
    thumbnail_url: str = Field(
        description="the poster, a JPEG (path on this API); ?width= one of "
        "160, 320, 640, 1280, ?time= another frame, ?token= for a private video",
    )
    created_at: datetime
    updated_at: datetime
    encoding: EncodingPublic | None = Field(
        default=None,
        description="a video encoded in chunks, while it is not ready: what is to come",
    )
    captions: list[CaptionPublic] | None = Field(
        default=None,
        description="its text tracks (only when one video is asked for)",
    )
    receipt: ReceiptPublic | None = Field(
        default=None,
        description="its quality receipt, once published (only when one video is asked "
        "for): per rung its sampled VMAF and PSNR, measured against declared bitrates, "
        "segment lengths and keyframe alignment, the rules it broke if any; and the ffmpeg "
        "version, command line and source sha256 that made it",
    )


class VideoList(_Schema):
    videos: list[VideoPublic]


class PlaybackPublic(_Schema):
    master_url: str
    expires_at: datetime | None
    status: str = Field(
        description="playable (the rest of the ladder is being encoded, and the master "
        "playlist lists more rungs once it is in) or ready"
    )
    renditions: list[str] = Field(description="the rungs the master playlist lists now")


class EventPublic(_Schema):
    at: datetime
    kind: str
    status: str
    epoch: int
    worker: str | None
    reason: str | None
    detail: dict[str, Any] | None


class JobPublic(_Schema):
    status: str
    explanation: str = Field(description="where the job stands and why, in one sentence")
    attempts: int
    max_attempts: int
    epoch: int
    progress: float
    worker: str | None
    lease_expires_at: datetime | None
    available_at: datetime
    updated_at: datetime
    last_error: str | None


class EventList(_Schema):
    events: list[EventPublic]
    job: JobPublic | None = None


class ErrorBody(_Schema):
    code: str
    message: str


class ErrorPublic(_Schema):
    error: ErrorBody


class ReadinessPublic(_Schema):
    status: str
    checks: dict[str, str]


# What each error status means in this API; every error body is an ErrorPublic.
_ERRORS = {
    400: "The request is not valid: a body that is not JSON, or a value a rule refuses",
    401: 'An API key is missing, malformed or unknown: send "Authorization: Bearer <key>"',
    403: "This key may not do that, or a signature or playback token is invalid or expired",
    404: "No such resource (or one this caller may not see)",
    409: "The resource's current state does not allow that",
    413: "The request body is too large",
    422: "The request does not match this schema",
    429: "Too many requests; Retry-After and the message say when to try again",
    503: "A backend is unavailable for a while; try again shortly",
}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of the errors a route can answer."""
    return {
        status: {"model": ErrorPublic, "description": _ERRORS[status]}
        | ({"headers": _RETRY_AFTER} if status == 429 else {})
        for status in statuses
    }
