"""Direct uploads: a signed, expiring token that lets a browser upload one video for a
user without holding any of their keys. Pure, no I/O, no clock of its own.

A token reads ``vsd_<claims>.<signature>``. Its message starts with ``DIRECT``, which no
playback or part grant does, so no other signature ever passes as one.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from vodstack import errors
from vodstack.domain.accounts import Scope, User, Visibility
from vodstack.domain.signing import sign, verify

DIRECT_PREFIX = "vsd_"
DEFAULT_SECONDS = 3600
MAX_SECONDS = 7 * 86400


@dataclass(frozen=True, slots=True)
class DirectGrant:
    """What a direct-upload token allows: uploading for direct upload ``id`` until
    ``expires``. The rest (owner, size, title) is in its record, not in the token."""

    id: str
    expires: int

    def message(self) -> bytes:
        return f"DIRECT\n{self.id}\n{self.expires}".encode()


@dataclass(frozen=True, slots=True)
class DirectUpload:
    id: str
    owner_id: str
    owner_name: str
    title: str | None
    description: str
    visibility: Visibility
    max_size: int
    created_at: datetime
    expires_at: datetime
    upload_id: str | None = None
    video_id: str | None = None
    used_at: datetime | None = None

    def check_usable(self, now: datetime) -> None:
        """Refuse a token whose upload was completed, or whose time is up."""
        if self.used_at is not None:
            raise errors.Unauthorized("this direct-upload token was already used")
        if now >= self.expires_at:
            raise errors.Unauthorized("this direct-upload token has expired")


def is_direct_token(token: str) -> bool:
    return token.startswith(DIRECT_PREFIX)


def direct_token(grant: DirectGrant, key: bytes) -> str:
    body = json.dumps({"d": grant.id, "exp": grant.expires}, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    return f"{DIRECT_PREFIX}{encoded}.{sign(grant, key)}"


def verify_direct_token(token: str, key: bytes, now: float) -> DirectGrant:
    """The grant a token carries, if ``key`` signed it and it has not expired."""
    if not is_direct_token(token):
        raise errors.Unauthorized("that is not a direct-upload token")
    encoded, _, signature = token[len(DIRECT_PREFIX) :].partition(".")
    try:
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        grant = DirectGrant(id=str(claims["d"]), expires=int(claims["exp"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise errors.Unauthorized("the direct-upload token is malformed") from None
    try:
        verify(grant, signature, key, now)
    except errors.SignatureExpired:
        raise errors.Unauthorized("this direct-upload token has expired") from None
    except errors.SignatureInvalid:
        raise errors.Unauthorized("the direct-upload token's signature is invalid") from None
    return grant


def direct_expiry(now: datetime, expires_in: int | None) -> datetime:
    seconds = DEFAULT_SECONDS if expires_in is None else expires_in
    if not 60 <= seconds <= MAX_SECONDS:
        raise errors.InvalidRequest(f"expires_in must be between 60 and {MAX_SECONDS} seconds")
    return now + timedelta(seconds=seconds)


def direct_max_size(asked: int | None, limit: int) -> int:
    """The most bytes the token may upload: what was asked, never above the server's limit."""
    if asked is None:
        return limit
    if not 1 <= asked <= limit:
        raise errors.InvalidRequest(f"max_size must be between 1 and {limit} bytes")
    return asked


def check_direct_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise errors.UploadTooLarge(
            f"the file is {size} bytes; this direct upload allows at most {max_size} bytes"
        )


@dataclass(frozen=True, slots=True)
class DirectUploader:
    """Whoever holds a live direct-upload token: may upload its one video, nothing else."""

    direct: DirectUpload

    @property
    def owner(self) -> User:
        """The owner, as the upload service sees them: with the upload scope alone."""
        return User(
            id=self.direct.owner_id,
            name=self.direct.owner_name,
            is_admin=False,
            scopes=frozenset({Scope.UPLOAD}),
        )

    def check_own(self, upload_id: str) -> None:
        """Another upload is reported as missing, as a key's foreign upload is."""
        if self.direct.upload_id != upload_id:
            raise errors.UploadNotFound(f"no upload with id {upload_id!r}")
