"""Object storage on any S3 API (AWS, MinIO, LocalStack, moto) through boto3.

Clients send parts straight to S3 with presigned URLs; the worker streams sources down and
outputs up with boto3's managed transfers, which never hold a whole file in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from vodstack import errors
from vodstack.adapters import aws
from vodstack.domain.uploads import PartETag, StoredPart, check_completion, normalize_etag
from vodstack.domain.videos import attachment
from vodstack.ports import ObjectInfo, PresignedRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

# Multipart transfers in 16 MiB chunks, a few at a time: memory stays bounded whatever
# the file's size.
_TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=16 * 1024 * 1024,
    max_concurrency=4,
    use_threads=True,
)
_DELETE_BATCH = 1000  # S3's limit for one DeleteObjects call


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: S3Client,
        presigner: S3Client | None = None,
        cdn_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client
        self._presigner = presigner or client
        self._cdn_url = cdn_url

    # --- multipart -------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str | None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        answer = await self._call(
            self._client.create_multipart_upload, Bucket=self.bucket, Key=self._key(key), **extra
        )
        return answer["UploadId"]

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, max_size: int, expires_in: int
    ) -> PresignedRequest:
        # S3 cannot cap a presigned PUT's size; the upload service checks every part's
        # size against the plan at completion instead.
        url = self._presigner.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "UploadId": upload_id,
                "PartNumber": part_number,
            },
            ExpiresIn=expires_in,
        )
        return PresignedRequest(url=url)

    async def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        def all_parts() -> list[StoredPart]:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
            )
            return [
                StoredPart(p["PartNumber"], normalize_etag(p["ETag"]), p["Size"])
                for page in pages
                for p in page.get("Parts", [])
            ]

        return sorted(await self._call(all_parts), key=lambda p: p.part_number)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[PartETag]
    ) -> ObjectInfo:
        # S3 checks the same rules, but names the problem less precisely.
        check_completion(parts, {p.part_number: p for p in await self.list_parts(key, upload_id)})
        await self._call(
            self._client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p.part_number, "ETag": f'"{normalize_etag(p.etag)}"'}
                    for p in parts
                ]
            },
        )
        info = await self.head(key)
        if info is None:
            raise errors.StorageUnavailable("S3 completed the upload but does not show the object")
        return info

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(errors.NoSuchMultipartUpload):
            await self._call(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
            )

    # --- objects ---------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            answer = await self._call(
                self._client.head_object, Bucket=self.bucket, Key=self._key(key)
            )
        except errors.ObjectNotFound:
            return None
        return ObjectInfo(key, answer["ContentLength"])

    async def download_file(self, key: str, path: Path) -> None:
        await self._call(
            self._client.download_file, self.bucket, self._key(key), str(path), Config=_TRANSFER
        )

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        await self._call(
            self._client.upload_file,
            str(path),
            self.bucket,
            self._key(key),
            ExtraArgs=extra,
            Config=_TRANSFER,
        )

    async def delete_prefix(self, prefix: str) -> int:
        def delete_all() -> int:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            return len(keys)

        return await self._call(delete_all)

    async def iterate(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        query: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key(prefix)}
        while True:
            page = await self._call(self._client.list_objects_v2, **query)
            for found in page.get("Contents", []):
                key = found["Key"][len(self.prefix) :]
                yield ObjectInfo(key, found["Size"], found["LastModified"])
            if not page.get("IsTruncated"):
                return
            query["ContinuationToken"] = page["NextContinuationToken"]

    async def delete(self, key: str) -> bool:
        if await self.head(key) is None:
            return False
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))
        return True

    async def locate(
        self, key: str, expires_in: int, download_as: str | None = None
    ) -> Path | str | bytes:
        if await self.head(key) is None:
            raise errors.ObjectNotFound(f"no object at {key!r}")
        if download_as is None:
            url = self.public_url(key, expires_in, private=True)
            assert url is not None
            return url
        # S3 answers with the header this signed parameter names: the browser saves the
        # object under the video's name, not under its key's last part.
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": attachment(download_as),
            },
            ExpiresIn=expires_in,
        )

    def public_url(self, key: str, expires_in: int, private: bool = False) -> str | None:
        # A CDN URL is not signed: private videos' segments are always presigned.
        if self._cdn_url and not private:
            return f"{self._cdn_url}/{self._key(key)}"
        return self._presigner.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in,
        )

    async def read_bytes(self, key: str, limit: int) -> bytes:
        def read() -> bytes:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            if answer["ContentLength"] > limit:
                answer["Body"].close()
                raise errors.PayloadTooLarge(f"{key!r} is larger than {limit} bytes")
            return answer["Body"].read()

        return await self._call(read)

    async def check(self) -> None:
        try:
            await self._call(self._client.head_bucket, Bucket=self.bucket)
        except errors.ObjectNotFound:
            raise errors.ConfigurationError(
                f"S3 bucket {self.bucket!r} does not exist (VODSTACK_STORAGE_URL)"
            ) from None
        except errors.BackendUnavailable as exc:
            raise errors.ConfigurationError(exc.message) from None

    # --- helpers ---------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except errors.VodstackError:
            raise
        except Exception as exc:
            raise _translate(exc, self.bucket) from exc


def _translate(exc: Exception, bucket: str) -> Exception:
    if isinstance(exc, ClientError):
        code = aws.error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or code
        if code == "NoSuchUpload":
            return errors.NoSuchMultipartUpload()
        if code in ("NoSuchKey", "404", "NotFound", "NoSuchBucket"):
            return errors.ObjectNotFound(message)
        if code == "InvalidPartOrder":
            return errors.InvalidPartOrder()
        if code == "InvalidPart":
            return errors.EtagMismatch(f"S3 does not hold that part with that ETag: {message}")
        if code == "EntityTooSmall":
            return errors.PartTooSmall()
        if code == "EntityTooLarge":
            return errors.PartTooLarge()
    return aws.translate(exc, f"S3 bucket {bucket!r}", errors.StorageUnavailable)
