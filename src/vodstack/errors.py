"""One exception hierarchy for the whole project.

Adapters translate third-party exceptions into these at their boundary; the API turns
any of them into ``{"error": {"code", "message"}}`` with the class's HTTP status. An
exception's docstring is its default message, and its code is its name in snake case.
"""

from __future__ import annotations

import re
from typing import ClassVar


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class VodstackError(Exception):
    """Something went wrong inside vodstack."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "vodstack_error"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = _snake(cls.__name__)

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        super().__init__(self.message)


# --- 400: the request itself is wrong --------------------------------------------------


class InvalidRequest(VodstackError):
    """The request is not valid."""

    status = 400


class InvalidJson(InvalidRequest):
    """The request body is not valid JSON."""


class InvalidFilename(InvalidRequest):
    """The filename is not acceptable."""


class InvalidSize(InvalidRequest):
    """The size is not acceptable."""


class InvalidPartNumber(InvalidRequest):
    """A part number is out of range."""


class InvalidPartOrder(InvalidRequest):
    """Parts must be listed in ascending order of part number, each once."""


class MissingParts(InvalidRequest):
    """Some parts of the upload are missing."""


class EtagMismatch(InvalidRequest):
    """A part's ETag does not match the part that storage holds."""


class PartSizeMismatch(InvalidRequest):
    """A stored part does not have the size the upload plan gives it."""


class PartTooSmall(InvalidRequest):
    """A part other than the last is smaller than 5 MiB."""


# --- 403 / 404 / 409 / 413 ------------------------------------------------------------


class Unauthorized(VodstackError):
    """An API key is required: send it as "Authorization: Bearer <key>"."""

    status = 401


class Forbidden(VodstackError):
    """This key may not do that."""

    status = 403


class SignatureInvalid(VodstackError):
    """The URL signature is missing or does not match."""

    status = 403


class SignatureExpired(VodstackError):
    """The URL has expired; ask for a new one."""

    status = 403


class NotFound(VodstackError):
    """Not found."""

    status = 404


class UploadNotFound(NotFound):
    """No such upload."""


class VideoNotFound(NotFound):
    """No such video."""

    @classmethod
    def named(cls, video_id: str) -> VideoNotFound:
        """What an id that names no video gets, and a private video's id to whoever may
        not see it: the very same answer, so that guessing ids tells nothing."""
        return cls(f"no video with id {video_id!r}")


class NoSuchMultipartUpload(NotFound):
    """Storage holds no such multipart upload: it was completed or aborted."""


class ObjectNotFound(NotFound):
    """Storage holds no such object."""


class DirectUploadNotFound(NotFound):
    """No such direct upload."""


class KeyNotFound(NotFound):
    """No such API key."""


class Conflict(VodstackError):
    """The request conflicts with the current state."""

    status = 409


class UploadAborted(Conflict):
    """The upload was aborted; start a new one."""


class UploadCompleted(Conflict):
    """The upload is already complete."""


class DirectUploadTaken(Conflict):
    """This direct-upload token already started its one upload."""


class VideoNotReady(Conflict):
    """The video is not ready to play yet."""


class PayloadTooLarge(VodstackError):
    """The request body is too large."""

    status = 413


class UploadTooLarge(PayloadTooLarge):
    """The file is larger than this upload allows."""


class PartTooLarge(PayloadTooLarge):
    """The part is larger than the upload's part size."""


# --- processing: how a job fails -----------------------------------------------------


class InvalidMedia(VodstackError):
    """The file is not a usable video."""

    status = 422


class TranscodeFailed(VodstackError):
    """The transcoder failed; the job will be retried."""

    status = 500


class TranscodeStalled(TranscodeFailed):
    """The transcoder made no progress for too long and was stopped."""


class RateLimited(VodstackError):
    """Too many requests; slow down."""

    status = 429

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, for the Retry-After header


# --- 503: a backend is away for a while ------------------------------------------------


class BackendUnavailable(VodstackError):
    """A backend vodstack needs is not reachable right now; try again shortly."""

    status = 503


class StorageUnavailable(BackendUnavailable):
    """Object storage is not reachable right now; try again shortly."""


class DatabaseUnavailable(BackendUnavailable):
    """The database is not reachable right now; try again shortly."""


class DatabaseError(VodstackError):
    """The database refused a statement; the server log has details."""

    status = 500


class QueueUnavailable(BackendUnavailable):
    """The job queue is not reachable right now; try again shortly."""


class WorkerStalled(VodstackError):
    """The worker's loop is not turning: it claims no jobs."""

    status = 503


class ConfigurationError(VodstackError):
    """vodstack is not configured correctly."""
