"""HMAC-signed, expiring grants: part upload URLs, playback and direct-upload tokens. No I/O, no
clock of its own."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Protocol

from vodstack import errors


@dataclass(frozen=True, slots=True)
class PartGrant:
    """What a signed part URL allows: one PUT of at most ``max_size`` bytes until ``expires``."""

    upload_id: str
    part_number: int
    max_size: int
    expires: int

    def message(self) -> bytes:
        return (
            f"PUT\n{self.upload_id}\n{self.part_number}\n{self.max_size}\n{self.expires}".encode()
        )


@dataclass(frozen=True, slots=True)
class PlaybackGrant:
    """What a playback token allows: fetching one video's playlists and segments until
    ``expires``; bound to a viewer's name and to an IP address when those are given."""

    video_id: str
    expires: int
    viewer: str | None = None
    ip: str | None = None

    def message(self) -> bytes:
        return f"PLAY\n{self.video_id}\n{self.expires}\n{self.viewer}\n{self.ip}".encode()


class _Grant(Protocol):
    def message(self) -> bytes: ...


class _Expiring(_Grant, Protocol):
    @property
    def expires(self) -> int: ...


def sign(grant: _Grant, key: bytes) -> str:
    digest = hmac.new(key, grant.message(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(grant: _Expiring, signature: str, key: bytes, now: float) -> None:
    """Raise unless ``signature`` was made for exactly this grant and it has not expired.

    The signature is checked first, so a tampered expiry is reported as tampering. A real
    one is base64url, so ASCII; compare_digest refuses to compare any other string."""
    if not signature.isascii() or not hmac.compare_digest(sign(grant, key), signature):
        raise errors.SignatureInvalid()
    if now > grant.expires:
        raise errors.SignatureExpired()


# The longest playback token a request may carry: several times any token issued.
TOKEN_CHARS = 2048


def playback_token(grant: PlaybackGrant, key: bytes) -> str:
    """``<claims>.<signature>``, both base64url: short enough for a URL's query."""
    claims = {"v": grant.video_id, "exp": grant.expires, "sub": grant.viewer, "ip": grant.ip}
    body = json.dumps({k: v for k, v in claims.items() if v is not None}, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    return f"{encoded}.{sign(grant, key)}"


def verify_playback_token(
    token: str, key: bytes, now: float, video_id: str, ip: str | None
) -> PlaybackGrant:
    """The grant a token carries, if it was signed with ``key``, has not expired, is for
    ``video_id``, and (when bound) is used from its IP address. Raises otherwise."""
    grant = signed_grant(token, key)
    check_grant(grant, now, video_id, ip)
    return grant


def signed_grant(token: str, key: bytes) -> PlaybackGrant:
    """The grant a token carries, if it was signed with ``key``; nothing else is checked."""
    encoded, _, signature = token.partition(".")
    try:
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        grant = PlaybackGrant(
            video_id=str(claims["v"]),
            expires=int(claims["exp"]),
            viewer=None if claims.get("sub") is None else str(claims["sub"]),
            ip=None if claims.get("ip") is None else str(claims["ip"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise errors.SignatureInvalid("the playback token is malformed") from None
    if not signature.isascii() or not hmac.compare_digest(sign(grant, key), signature):
        raise errors.SignatureInvalid()
    return grant


def check_grant(grant: PlaybackGrant, now: float, video_id: str, ip: str | None) -> None:
    """Raise unless a signed grant still holds for this request: not expired, for
    ``video_id``, and (when bound) used from its IP address."""
    if now > grant.expires:
        raise errors.SignatureExpired()
    if grant.video_id != video_id:
        raise errors.SignatureInvalid("the playback token is for another video")
    if grant.ip is not None and grant.ip != ip:
        raise errors.SignatureInvalid("the playback token is bound to another address")
