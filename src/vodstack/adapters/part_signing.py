"""Shared by the storages that receive parts through the upload service: they presign
part URLs that point back at it and check those URLs when the part arrives."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

from vodstack import errors
from vodstack.domain import signing
from vodstack.domain.signing import PartGrant
from vodstack.ports import PresignedRequest

PART_ROUTE = "/v1/storage/parts"


class PartSigner:
    def __init__(self, key: bytes, public_url: str, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._public_url = public_url.rstrip("/")
        self._clock = clock

    def presign(
        self, upload_id: str, part_number: int, max_size: int, expires_in: int
    ) -> PresignedRequest:
        grant = PartGrant(upload_id, part_number, max_size, int(self._clock()) + expires_in)
        query = urlencode(
            {
                "max_size": grant.max_size,
                "expires": grant.expires,
                "signature": signing.sign(grant, self._key),
            }
        )
        return PresignedRequest(
            url=f"{self._public_url}{PART_ROUTE}/{upload_id}/{part_number}?{query}"
        )

    def verify(self, grant: PartGrant, signature: str) -> None:
        signing.verify(grant, signature, self._key, self._clock())


async def stream_capped(
    body: AsyncIterator[bytes], max_size: int, write: Callable[[bytes], object]
) -> tuple[int, str]:
    """Pass ``body`` to ``write`` chunk by chunk; stop with PartTooLarge past ``max_size``.
    Returns the size and the MD5 hex digest, which is the part's ETag as in S3."""
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > max_size:
            raise errors.PartTooLarge(f"the part is larger than its allowed {max_size} bytes")
        md5.update(chunk)
        write(chunk)
    return size, md5.hexdigest()
