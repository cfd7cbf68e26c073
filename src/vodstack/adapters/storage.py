"""Build the storage adapter that ``VODSTACK_STORAGE_URL`` names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_local import LocalStorage
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.ports import Storage
from vodstack.settings import Settings


def open_storage(settings: Settings) -> Storage:
    url = urlparse(settings.storage_url)
    signer = PartSigner(settings.signing_key(), settings.public_url)
    if url.scheme == "file":
        return LocalStorage(Path(url.path), signer)
    if url.scheme == "memory":
        return MemoryStorage(signer)
    raise ValueError(
        f"VODSTACK_STORAGE_URL {settings.storage_url!r}: expected file:///path or memory://"
    )
