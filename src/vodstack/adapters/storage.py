"""Build the storage adapter that ``VODSTACK_STORAGE_URL`` names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_local import LocalStorage
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.ports import Storage
from vodstack.settings import Settings, ensure_signing_key


def open_storage(settings: Settings) -> Storage:
    url = urlparse(settings.storage_url)
    if url.scheme == "s3":
        return open_s3_storage(settings)
    signer = PartSigner(ensure_signing_key(settings), settings.public_url)
    if url.scheme == "file":
        return LocalStorage(Path(url.path), signer)
    if url.scheme == "memory":
        return MemoryStorage(signer)
    raise errors.ConfigurationError(
        f"VODSTACK_STORAGE_URL {settings.storage_url!r}: expected s3://bucket[/prefix], "
        "file:///path or memory://"
    )


def open_s3_storage(settings: Settings) -> Storage:
    from vodstack.adapters import aws
    from vodstack.adapters.storage_s3 import S3Storage

    url = urlparse(settings.storage_url)
    if not url.netloc:
        raise errors.ConfigurationError(
            f"VODSTACK_STORAGE_URL {settings.storage_url!r} names no bucket"
        )
    client = aws.s3_client(settings)
    presigner = (
        aws.s3_client(settings, endpoint_url=settings.s3_public_endpoint_url)
        if settings.s3_public_endpoint_url
        else client
    )
    return S3Storage(url.netloc, url.path, client, presigner, settings.cdn_url)
