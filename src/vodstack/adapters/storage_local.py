"""Object storage in a local directory, with S3's multipart semantics.

Layout under the root:
    <key>                              objects
    .multipart/<upload_id>/key         the key the upload completes into
    .multipart/<upload_id>/<nnnnn>.<md5>   one file per part; the name carries its ETag
    .tmp/                              files being written, renamed into place when whole

Every write lands in ``.tmp`` and is renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner, stream_capped
from vodstack.domain.signing import PartGrant
from vodstack.domain.uploads import PartETag, StoredPart, check_completion
from vodstack.ports import ObjectInfo, PresignedRequest

_COPY_CHUNK = 8 * 1024 * 1024


def _read_folder(folder: Path) -> tuple[list[tuple[Path, os.stat_result]], list[Path]]:
    """A folder's files with their stat, and its sub-folders, by name; nothing if it is
    gone (removed while the listing went on)."""
    files, folders = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                folders.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                files.append((Path(entry.path), entry.stat()))
        except FileNotFoundError:
            continue
    return files, folders


class LocalStorage:
    def __init__(self, root: Path, signer: PartSigner) -> None:
        self.root = root.resolve()
        self._signer = signer
        self._multipart = self.root / ".multipart"
        self._tmp = self.root / ".tmp"
        for folder in (self.root, self._multipart, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)

    # --- multipart -------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str | None) -> str:
        self._path(key)  # validate before anything is written
        upload_id = uuid.uuid4().hex
        staging = self._tmp / f"mp-{upload_id}"
        staging.mkdir()
        (staging / "key").write_text(key)
        staging.rename(self._multipart / upload_id)
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
        folder = self._upload_dir(upload_id)
        tmp = self._tmp / f"part-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as out:
                size, etag = await stream_capped(body, max_size, out.write)
            final = folder / f"{part_number:05d}.{etag}"
            # The upload may have been aborted or completed while the body streamed in.
            try:
                tmp.replace(final)
            except FileNotFoundError:
                raise errors.NoSuchMultipartUpload() from None
        finally:
            tmp.unlink(missing_ok=True)
        for older in folder.glob(f"{part_number:05d}.*"):
            if older != final:
                older.unlink(missing_ok=True)
        return StoredPart(part_number, etag, size)

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        return sorted(self._stored_parts(upload_id).values(), key=lambda p: p.part_number)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartETag]
    ) -> ObjectInfo:
        folder = self._upload_dir(upload_id)
        if (folder / "key").read_text() != key:
            raise errors.NoSuchMultipartUpload("the multipart upload belongs to another key")
        stored = self._stored_parts(upload_id)
        check_completion(parts, stored)
        sources = [folder / f"{p.part_number:05d}.{stored[p.part_number].etag}" for p in parts]
        size = await asyncio.to_thread(self._write_atomically, key, sources)
        await asyncio.to_thread(self._remove_dir, folder)
        return ObjectInfo(key, size)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._upload_dir(upload_id)
        except errors.NoSuchMultipartUpload:
            return
        await asyncio.to_thread(self._remove_dir, folder)

    # --- objects ---------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            return ObjectInfo(key, self._path(key).stat().st_size)
        except FileNotFoundError:
            return None

    async def download_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        try:
            await asyncio.to_thread(shutil.copyfile, source, path)
        except FileNotFoundError:
            raise errors.ObjectNotFound(f"no object at {key!r}") from None

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        await asyncio.to_thread(self._write_atomically, key, [path])

    async def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        await asyncio.to_thread(self._remove_dir, base)
        return count

    async def iterate(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        # One folder read at a time, in name order; dot folders (uploads in progress,
        # files being written) hold no objects.
        folders = [self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root]
        while folders:
            folder = folders.pop()
            files, subfolders = await asyncio.to_thread(_read_folder, folder)
            for path, info in files:
                key = path.relative_to(self.root).as_posix()
                yield ObjectInfo(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))
            folders.extend(reversed(subfolders))

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, IsADirectoryError):
            return False
        await asyncio.to_thread(self._prune_folders, path.parent)
        return True

    async def locate(
        self, key: str, expires_in: int, download_as: str | None = None
    ) -> Path | str | bytes:
        path = self._path(key)
        if not path.is_file():
            raise errors.ObjectNotFound(f"no object at {key!r}")
        return path

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        return None

    async def read_bytes(self, key: str, limit: int) -> bytes:
        path = await self.locate(key, 0)
        assert isinstance(path, Path)
        if path.stat().st_size > limit:
            raise errors.PayloadTooLarge(f"{key!r} is larger than {limit} bytes")
        return await asyncio.to_thread(path.read_bytes)

    async def check(self) -> None:
        probe = self._tmp / f"check-{uuid.uuid4().hex}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise errors.ConfigurationError(
                f"storage directory {self.root} is not writable: {exc.strerror}"
            ) from None

    # --- helpers ---------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise errors.InvalidRequest(f"invalid storage key {key!r}")
        if parts[0].startswith("."):
            raise errors.InvalidRequest(f"storage keys must not start with a dot: {key!r}")
        return self.root.joinpath(*parts)

    def _upload_dir(self, upload_id: str) -> Path:
        folder = self._multipart / upload_id
        if not upload_id.isalnum() or not (folder / "key").is_file():
            raise errors.NoSuchMultipartUpload()
        return folder

    def _stored_parts(self, upload_id: str) -> dict[int, StoredPart]:
        folder = self._upload_dir(upload_id)
        newest: dict[int, tuple[float, StoredPart]] = {}
        for entry in os.scandir(folder):
            number, _, etag = entry.name.partition(".")
            if not number.isdigit() or not etag:
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:  # replaced by a newer copy of the same part
                continue
            part = StoredPart(int(number), etag, stat.st_size)
            if part.part_number not in newest or stat.st_mtime > newest[part.part_number][0]:
                newest[part.part_number] = (stat.st_mtime, part)
        return {n: part for n, (_, part) in newest.items()}

    def _write_atomically(self, key: str, sources: Sequence[Path]) -> int:
        target = self._path(key)
        tmp = self._tmp / f"obj-{uuid.uuid4().hex}"
        try:
            with tmp.open("wb") as out:
                for source in sources:
                    with source.open("rb") as part:
                        shutil.copyfileobj(part, out, _COPY_CHUNK)
            target.parent.mkdir(parents=True, exist_ok=True)
            size = tmp.stat().st_size
            tmp.replace(target)
            return size
        finally:
            tmp.unlink(missing_ok=True)

    def _prune_folders(self, folder: Path) -> None:
        """Remove ``folder`` and the folders above it while they are empty, as S3 keeps no
        empty folders either."""
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or gone
                return
            folder = folder.parent

    def _remove_dir(self, folder: Path) -> None:
        # Rename first so the removal looks atomic to anyone listing the parent.
        doomed = self._tmp / f"rm-{uuid.uuid4().hex}"
        try:
            folder.rename(doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)
