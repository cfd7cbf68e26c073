"""Object storage, timed and counted: one decorator over every backend, so each adapter
stays about storage alone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import TypeVar

from vodstack import errors, metrics
from vodstack.domain.uploads import PartETag, StoredPart
from vodstack.ports import ObjectInfo, PartReceiver, PresignedRequest, Storage

T = TypeVar("T")


def instrumented(storage: Storage) -> Storage:
    """``storage`` with metrics; the same object when it already has them. A storage that
    receives parts itself keeps that ability (the API looks for it)."""
    if isinstance(storage, InstrumentedStorage):
        return storage
    if isinstance(storage, PartReceiver):
        return InstrumentedPartReceiver(storage)
    return InstrumentedStorage(storage)


async def _measured(operation: str, call: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        return await call
    except errors.VodstackError as exc:
        if exc.status >= 500:  # 4xx: the caller's mistake, answered correctly by storage
            metrics.STORAGE_ERRORS.labels(operation).inc()
        raise
    except Exception:
        metrics.STORAGE_ERRORS.labels(operation).inc()
        raise
    finally:
        metrics.STORAGE_DURATION.labels(operation).observe(time.perf_counter() - started)


class InstrumentedStorage:
    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    async def create_multipart(self, key: str, content_type: str | None) -> str:
        return await _measured("create_multipart", self.inner.create_multipart(key, content_type))

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, max_size: int, expires_in: int
    ) -> PresignedRequest:
        return await _measured(
            "presign_part",
            self.inner.presign_part(key, upload_id, part_number, max_size, expires_in),
        )

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        return await _measured("list_parts", self.inner.list_parts(key, upload_id))

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartETag]
    ) -> ObjectInfo:
        return await _measured(
            "complete_multipart", self.inner.complete_multipart(key, upload_id, parts)
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await _measured("abort_multipart", self.inner.abort_multipart(key, upload_id))

    async def head(self, key: str) -> ObjectInfo | None:
        return await _measured("head", self.inner.head(key))

    async def download_file(self, key: str, path: Path) -> None:
        await _measured("download_file", self.inner.download_file(key, path))

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        await _measured("upload_file", self.inner.upload_file(path, key, content_type))

    async def delete_prefix(self, prefix: str) -> int:
        return await _measured("delete_prefix", self.inner.delete_prefix(prefix))

    async def iterate(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        # A listing is timed a page at a time by the backend, not as one long call.
        async for info in self.inner.iterate(prefix):
            yield info

    async def delete(self, key: str) -> bool:
        return await _measured("delete", self.inner.delete(key))

    async def locate(
        self, key: str, expires_in: int, download_as: str | None = None
    ) -> Path | str | bytes:
        return await _measured("locate", self.inner.locate(key, expires_in, download_as))

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        # Pure computation, called per segment of every playlist served: not worth a sample.
        return self.inner.public_url(key, expires_in, private)

    async def read_bytes(self, key: str, limit: int) -> bytes:
        return await _measured("read_bytes", self.inner.read_bytes(key, limit))

    async def check(self) -> None:
        await _measured("check", self.inner.check())


class InstrumentedPartReceiver(InstrumentedStorage):
    def __init__(self, inner: Storage) -> None:
        assert isinstance(inner, PartReceiver)
        super().__init__(inner)
        self._receiver = inner

    async def receive_part(
        self,
        upload_id: str,
        part_number: int,
        max_size: int,
        expires: int,
        signature: str,
        body: AsyncIterator[bytes],
    ) -> StoredPart:
        return await _measured(
            "receive_part",
            self._receiver.receive_part(upload_id, part_number, max_size, expires, signature, body),
        )
