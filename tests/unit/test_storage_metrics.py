"""Every storage operation is timed, and counted as an error only when storage itself failed;
the decorator keeps what the API looks for in a storage."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_instrumented import instrumented
from vodstack.adapters.storage_local import LocalStorage
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.ports import PartReceiver


def sample(name: str, operation: str) -> float:
    return REGISTRY.get_sample_value(name, {"operation": operation}) or 0.0


def timed(operation: str) -> float:
    return sample("vodstack_storage_operation_duration_seconds_count", operation)


def failed(operation: str) -> float:
    return sample("vodstack_storage_errors_total", operation)


class Unreachable(MemoryStorage):
    async def head(self, key: str) -> None:
        raise errors.StorageUnavailable("S3 answered 503")


async def test_operations_are_timed_and_failures_of_storage_counted() -> None:
    storage = instrumented(Unreachable(PartSigner(b"k", "http://x")))
    heads, head_errors = timed("head"), failed("head")
    reads, read_errors = timed("read_bytes"), failed("read_bytes")
    with pytest.raises(errors.StorageUnavailable):
        await storage.head("sources/v/source")
    with pytest.raises(errors.ObjectNotFound):  # a missing object: the caller's mistake
        await storage.read_bytes("outputs/v/e1/master.m3u8", 100)
    assert (timed("head"), failed("head")) == (heads + 1, head_errors + 1)
    assert (timed("read_bytes"), failed("read_bytes")) == (reads + 1, read_errors)


def test_the_decorator_keeps_part_receiving_and_is_applied_once(tmp_path: Path) -> None:
    signer = PartSigner(b"k", "http://x")
    local = instrumented(LocalStorage(tmp_path, signer))
    assert isinstance(local, PartReceiver)
    assert instrumented(local) is local
    assert isinstance(instrumented(MemoryStorage(signer)), PartReceiver)
