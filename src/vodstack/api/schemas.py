"""The JSON shapes of the HTTP API: ...Create for what comes in, ...Public for what goes out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vodstack.domain.accounts import Visibility


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UploadCreate(_Schema):
    filename: str = Field(max_length=1024)
    size: int
    content_type: str | None = Field(default=None, max_length=127)
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=5000)
    visibility: Visibility = Visibility.PUBLIC


class VideoUpdate(_Schema):
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = None


class PlaybackTokenCreate(_Schema):
    expires_in: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    viewer: str | None = Field(default=None, max_length=200)
    bind_ip: bool = False


class PlaybackTokenPublic(_Schema):
    token: str
    expires_at: datetime
    master_url: str


class UploadCreated(_Schema):
    video_id: str
    upload_id: str
    part_size: int
    part_count: int


class PartsRequest(_Schema):
    part_numbers: list[int] = Field(max_length=10_000)


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


class CompletedPart(_Schema):
    part_number: int
    etag: str = Field(max_length=128)


class UploadComplete(_Schema):
    parts: list[CompletedPart] = Field(max_length=10_000)


class VideoAccepted(_Schema):
    video_id: str
    status: str


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
    created_at: datetime
    updated_at: datetime


class VideoList(_Schema):
    videos: list[VideoPublic]


class PlaybackPublic(_Schema):
    master_url: str
    expires_at: datetime | None


class EventPublic(_Schema):
    at: datetime
    kind: str
    status: str
    epoch: int
    worker: str | None
    reason: str | None
    detail: dict[str, Any] | None


class EventList(_Schema):
    events: list[EventPublic]


class ErrorBody(_Schema):
    code: str
    message: str


class ErrorPublic(_Schema):
    error: ErrorBody
