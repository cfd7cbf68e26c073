"""HMAC-signed, expiring URLs for part uploads: pure, no I/O, no clock of its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

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


def sign(grant: PartGrant, key: bytes) -> str:
    digest = hmac.new(key, grant.message(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(grant: PartGrant, signature: str, key: bytes, now: float) -> None:
    """Raise unless ``signature`` was made for exactly this grant and it has not expired.

    The signature is checked first, so a tampered expiry is reported as tampering."""
    if not hmac.compare_digest(sign(grant, key), signature):
        raise errors.SignatureInvalid()
    if now > grant.expires:
        raise errors.SignatureExpired()
