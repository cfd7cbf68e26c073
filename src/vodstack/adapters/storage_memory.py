"""The in-memory twin of object storage, for tests of services and of the contract."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner, stream_capped
from vodstack.domain.signing import PartGrant
from vodstack.domain.uploads import PartETag, StoredPart, check_completion
from vodstack.ports import ObjectInfo, PresignedRequest


@dataclass
class _Multipart:
    key: str
    parts: dict[int, tuple[StoredPart, bytes]] = field(default_factory=dict)


class MemoryStorage:
    def __init__(self, signer: PartSigner) -> None:
        self._signer = signer
        self.objects: dict[str, bytes] = {}
        self.written: dict[str, datetime] = {}
        self._uploads: dict[str, _Multipart] = {}

    async def create_multipart(self, key: str, content_type: str | None) -> str:
        upload_id = uuid.uuid4().hex
        self._uploads[upload_id] = _Multipart(key)
        return upload_id

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, max_size: int, expires_in: int
    ) -> PresignedRequest:
        return self._signer.presign(upload_id, part_number, max_size, expires_in)

    async def receive_part(
        self,
        upload_id: str,
        part_number: int,
        max_size: int,
        expires: int,
        signature: str,
        body: AsyncIterator[bytes],
    ) -> StoredPart:
        self._signer.verify(PartGrant(upload_id, part_number, max_size, expires), signature)
        chunks: list[bytes] = []
        size, etag = await stream_capped(body, max_size, chunks.append)
        part = StoredPart(part_number, etag, size)
        self._upload(upload_id).parts[part_number] = (part, b"".join(chunks))
        return part

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        parts = self._upload(upload_id).parts
        return [parts[n][0] for n in sorted(parts)]

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartETag]
    ) -> ObjectInfo:
        upload = self._upload(upload_id)
        if upload.key != key:
            raise errors.NoSuchMultipartUpload("the multipart upload belongs to another key")
        check_completion(parts, {n: stored for n, (stored, _) in upload.parts.items()})
        data = b"".join(upload.parts[p.part_number][1] for p in parts)
        self.objects[key] = data
        self.written[key] = datetime.now(UTC)
        del self._uploads[upload_id]
        return ObjectInfo(key, len(data))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self._uploads.pop(upload_id, None)

    async def head(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(key, len(data))

    async def download_file(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise errors.ObjectNotFound(f"no object at {key!r}")
        await asyncio.to_thread(path.write_bytes, self.objects[key])

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        self.objects[key] = await asyncio.to_thread(path.read_bytes)
        self.written[key] = datetime.now(UTC)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k == prefix or k.startswith(prefix.rstrip("/") + "/")]
        for key in doomed:
            del self.objects[key]
            self.written.pop(key, None)
        return len(doomed)

    async def iterate(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            data = self.objects.get(key)
            if data is not None:  # removed while the listing went on
                yield ObjectInfo(key, len(data), self.written.get(key))

    async def delete(self, key: str) -> bool:
        self.written.pop(key, None)
        return self.objects.pop(key, None) is not None

    async def locate(
        self, key: str, expires_in: int, download_as: str | None = None
    ) -> Path | str | bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise errors.ObjectNotFound(f"no object at {key!r}") from None

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        return None

    async def read_bytes(self, key: str, limit: int) -> bytes:
        data = await self.locate(key, 0)
        assert isinstance(data, bytes)
        if len(data) > limit:
            raise errors.PayloadTooLarge(f"{key!r} is larger than {limit} bytes")
        return data

    async def check(self) -> None:
        return None

    def _upload(self, upload_id: str) -> _Multipart:
        try:
            return self._uploads[upload_id]
        except KeyError:
            raise errors.NoSuchMultipartUpload() from None
