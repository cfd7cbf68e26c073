"""One contract, every storage backend: S3's multipart semantics and atomic object writes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.support.aws import Moto
from tests.support.processes import free_port
from vodstack import errors
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage import open_storage
from vodstack.adapters.storage_local import LocalStorage
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.domain.uploads import PartETag, StoredPart, normalize_etag
from vodstack.ports import PartReceiver, Storage
from vodstack.settings import MiB, Settings

KEY = "sources/v1/source"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["local", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Storage]:
    signer = PartSigner(b"secret", "http://testserver", clock)
    if request.param == "local":
        yield LocalStorage(tmp_path / "objects", signer)
    elif request.param == "memory":
        yield MemoryStorage(signer)
    else:
        moto: Moto = request.getfixturevalue("moto")
        settings = Settings(
            storage_url=f"s3://{moto.bucket()}/some/prefix",
            s3_endpoint_url=moto.endpoint,
            _env_file=None,
        )
        yield open_storage(settings)


def receiver_only(storage: Storage) -> PartReceiver:
    """S3 checks its own presigned URLs; these tests are about ours."""
    if not isinstance(storage, PartReceiver):
        pytest.skip("storage checks presigned part URLs itself (S3)")
    return storage


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def put_part(
    storage: Storage, upload_id: str, n: int, data: bytes, max_size: int | None = None
) -> StoredPart:
    """Send a part the way a client would: presign, then PUT."""
    limit = len(data) if max_size is None else max_size
    request = await storage.presign_part(KEY, upload_id, n, limit, expires_in=60)
    if not isinstance(storage, PartReceiver):
        async with httpx.AsyncClient() as http:
            response = await http.put(request.url, content=data, headers=request.headers)
        # S3 answers 404 NoSuchUpload for an aborted upload; moto's server fails with a
        # 500. Either way the part is refused, which is what the contract asks.
        if response.status_code in (404, 500):
            raise errors.NoSuchMultipartUpload()
        response.raise_for_status()
        return StoredPart(n, normalize_etag(response.headers["ETag"]), len(data))
    query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
    return await storage.receive_part(
        upload_id,
        n,
        int(query["max_size"]),
        int(query["expires"]),
        query["signature"],
        chunks(data),
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


PART1 = os.urandom(5 * MiB)
PART2 = os.urandom(5 * MiB)
PART3 = os.urandom(123)


async def test_multipart_round_trip(storage: Storage, tmp_path: Path) -> None:
    upload_id = await storage.create_multipart(KEY, "video/mp4")
    stored = [
        await put_part(storage, upload_id, 3, PART3),
        await put_part(storage, upload_id, 1, PART1),
        await put_part(storage, upload_id, 2, PART2),
    ]
    assert [p.etag for p in stored] == [md5(PART3), md5(PART1), md5(PART2)]
    listed = await storage.list_parts(KEY, upload_id)
    assert listed == [
        StoredPart(1, md5(PART1), len(PART1)),
        StoredPart(2, md5(PART2), len(PART2)),
        StoredPart(3, md5(PART3), len(PART3)),
    ]
    info = await storage.complete_multipart(
        KEY, upload_id, [PartETag(p.part_number, f'"{p.etag}"') for p in listed]
    )
    assert info.size == len(PART1 + PART2 + PART3)
    assert await storage.head(KEY) == info
    out = tmp_path / "out.bin"
    await storage.download_file(KEY, out)
    assert out.read_bytes() == PART1 + PART2 + PART3
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.list_parts(KEY, upload_id)


async def test_a_part_sent_again_replaces_the_first(storage: Storage) -> None:
    upload_id = await storage.create_multipart(KEY, None)
    await put_part(storage, upload_id, 1, b"first")
    await put_part(storage, upload_id, 1, b"second!")
    assert await storage.list_parts(KEY, upload_id) == [StoredPart(1, md5(b"second!"), 7)]


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ([PartETag(2, md5(PART2)), PartETag(1, md5(PART1))], errors.InvalidPartOrder),
        ([PartETag(1, md5(PART2)), PartETag(2, md5(PART2))], errors.EtagMismatch),
        ([PartETag(1, md5(PART1)), PartETag(4, md5(PART2))], errors.MissingParts),
        ([PartETag(3, md5(PART3)), PartETag(4, md5(PART1))], errors.MissingParts),
    ],
)
async def test_a_bad_completion_changes_nothing(
    storage: Storage, parts: list[PartETag], error: type[Exception]
) -> None:
    upload_id = await storage.create_multipart(KEY, None)
    await put_part(storage, upload_id, 1, PART1)
    await put_part(storage, upload_id, 2, PART2)
    with pytest.raises(error):
        await storage.complete_multipart(KEY, upload_id, parts)
    assert await storage.head(KEY) is None
    assert len(await storage.list_parts(KEY, upload_id)) == 2


async def test_all_parts_but_the_last_must_be_5_mib(storage: Storage) -> None:
    upload_id = await storage.create_multipart(KEY, None)
    await put_part(storage, upload_id, 1, b"tiny")
    await put_part(storage, upload_id, 2, PART3)
    with pytest.raises(errors.PartTooSmall):
        await storage.complete_multipart(
            KEY, upload_id, [PartETag(1, md5(b"tiny")), PartETag(2, md5(PART3))]
        )


async def test_abort_removes_the_parts_and_is_idempotent(storage: Storage) -> None:
    upload_id = await storage.create_multipart(KEY, None)
    await put_part(storage, upload_id, 1, PART3)
    await storage.abort_multipart(KEY, upload_id)
    await storage.abort_multipart(KEY, upload_id)
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.list_parts(KEY, upload_id)
    with pytest.raises(errors.NoSuchMultipartUpload):
        await put_part(storage, upload_id, 2, PART3)
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.complete_multipart(KEY, upload_id, [PartETag(1, md5(PART3))])


async def test_an_unknown_upload(storage: Storage) -> None:
    with pytest.raises(errors.NoSuchMultipartUpload):
        await storage.list_parts(KEY, "0" * 32)


async def test_a_part_over_its_limit_is_refused_and_not_kept(storage: Storage) -> None:
    receiver_only(storage)
    upload_id = await storage.create_multipart(KEY, None)
    with pytest.raises(errors.PartTooLarge):
        await put_part(storage, upload_id, 1, b"x" * 1001, max_size=1000)
    assert await storage.list_parts(KEY, upload_id) == []


async def test_expired_and_tampered_part_urls(storage: Storage, clock: FakeClock) -> None:
    receiver = receiver_only(storage)
    upload_id = await storage.create_multipart(KEY, None)
    request = await storage.presign_part(KEY, upload_id, 1, 100, expires_in=60)
    query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
    expires, signature = int(query["expires"]), query["signature"]
    with pytest.raises(errors.SignatureInvalid):  # a larger size than was signed
        await receiver.receive_part(upload_id, 1, 1000, expires, signature, chunks(b"x"))
    with pytest.raises(errors.SignatureInvalid):  # another part number
        await receiver.receive_part(upload_id, 2, 100, expires, signature, chunks(b"x"))
    with pytest.raises(errors.SignatureInvalid):  # a later expiry
        await receiver.receive_part(upload_id, 1, 100, expires + 3600, signature, chunks(b"x"))
    clock.now += 61
    with pytest.raises(errors.SignatureExpired):
        await receiver.receive_part(upload_id, 1, 100, expires, signature, chunks(b"x"))
    assert await storage.list_parts(KEY, upload_id) == []


async def test_objects_upload_download_and_delete_by_prefix(
    storage: Storage, tmp_path: Path
) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"hello")
    await storage.upload_file(source, "outputs/v1/e1/a.m4s")
    await storage.upload_file(source, "outputs/v1/e1/b/c.m4s")
    await storage.upload_file(source, "outputs/v1/e10/a.m4s")
    assert (await storage.head("outputs/v1/e1/a.m4s")) is not None
    assert await storage.delete_prefix("outputs/v1/e1/") == 2
    assert await storage.head("outputs/v1/e1/a.m4s") is None
    assert await storage.head("outputs/v1/e10/a.m4s") is not None
    with pytest.raises(errors.ObjectNotFound):
        await storage.download_file("outputs/v1/e1/a.m4s", tmp_path / "out")


async def test_iterate_lists_every_object_under_a_folder_with_its_size(
    storage: Storage, tmp_path: Path
) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"hello")
    before = datetime.now(UTC) - timedelta(minutes=5)
    keys = [
        "outputs/v1/e1/a.m4s",
        "outputs/v1/e1/b/c.m4s",
        "outputs/v1/e10/a.m4s",
        "outputs/v1-x/e1/a.m4s",
        "sources/v1/source",
    ]
    for key in keys:
        await storage.upload_file(source, key)
    everything = [info async for info in storage.iterate("")]
    assert sorted(i.key for i in everything) == sorted(keys)
    assert all(i.size == 5 for i in everything)
    assert all(i.modified is not None and i.modified > before for i in everything)
    under = [info.key async for info in storage.iterate("outputs/v1/")]
    assert sorted(under) == ["outputs/v1/e1/a.m4s", "outputs/v1/e1/b/c.m4s", "outputs/v1/e10/a.m4s"]
    # The objects of one folder come together, so a caller can take a folder at a time.
    folders = [k.rsplit("/", 1)[0] for k in under]
    assert sorted(set(folders), key=folders.index) == list(dict.fromkeys(folders))
    assert [info async for info in storage.iterate("captions/")] == []


async def test_iterate_keeps_multipart_uploads_in_progress_out(storage: Storage) -> None:
    upload_id = await storage.create_multipart(KEY, None)
    await put_part(storage, upload_id, 1, b"x" * 10)
    assert [info async for info in storage.iterate("")] == []


async def test_delete_removes_exactly_one_object(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"hello")
    await storage.upload_file(source, "outputs/v1/e1/seg_1.m4s")
    await storage.upload_file(source, "outputs/v1/e1/seg_10.m4s")
    assert await storage.delete("outputs/v1/e1/seg_1.m4s") is True
    assert await storage.head("outputs/v1/e1/seg_1.m4s") is None
    assert await storage.head("outputs/v1/e1/seg_10.m4s") is not None
    assert await storage.delete("outputs/v1/e1/seg_1.m4s") is False
    assert await storage.delete("outputs/v1/e1") is False  # a folder is not an object
    assert await storage.head("outputs/v1/e1/seg_10.m4s") is not None


async def test_locate_gives_a_way_to_read_the_object(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"segment bytes")
    await storage.upload_file(source, "outputs/v1/e1/seg.m4s")
    found = await storage.locate("outputs/v1/e1/seg.m4s", expires_in=60)
    if isinstance(found, Path):
        assert found.read_bytes() == b"segment bytes"
    elif isinstance(found, bytes):
        assert found == b"segment bytes"
    else:
        async with httpx.AsyncClient() as http:
            assert (await http.get(found)).content == b"segment bytes"
    with pytest.raises(errors.ObjectNotFound):
        await storage.locate("outputs/v1/e1/missing.m4s", expires_in=60)
    assert await storage.read_bytes("outputs/v1/e1/seg.m4s", 100) == b"segment bytes"
    with pytest.raises(errors.PayloadTooLarge):
        await storage.read_bytes("outputs/v1/e1/seg.m4s", 5)
    with pytest.raises(errors.ObjectNotFound):
        await storage.read_bytes("outputs/v1/e1/missing.m4s", 100)
    url = storage.public_url("outputs/v1/e1/seg.m4s", 60)
    if url is not None:
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).content == b"segment bytes"


async def test_a_usable_storage_passes_its_check(storage: Storage) -> None:
    await storage.check()


async def test_a_missing_bucket_is_named(moto: Moto) -> None:
    settings = Settings(
        storage_url="s3://no-such-bucket",
        s3_endpoint_url=moto.endpoint,
        _env_file=None,
    )
    with pytest.raises(errors.ConfigurationError, match=r"no-such-bucket.*does not exist"):
        await open_storage(settings).check()


async def test_an_unreachable_endpoint_is_unavailable_not_a_crash() -> None:
    settings = Settings(
        storage_url="s3://bucket",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        _env_file=None,
    )
    storage = open_storage(settings)
    with pytest.raises(errors.ConfigurationError, match="not reachable"):
        await storage.check()
    with pytest.raises(errors.StorageUnavailable):
        await storage.head("sources/x")


def test_local_storage_refuses_keys_that_leave_its_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects", PartSigner(b"k", "http://x"))
    for key in ("../escape", "a/../../escape", "/abs", "", ".multipart/x", "a//b"):
        with pytest.raises(errors.InvalidRequest):
            storage._path(key)


async def test_local_storage_never_shows_half_written_files(tmp_path: Path) -> None:
    """A part whose body fails midway leaves nothing behind, in the upload or the temp dir."""
    storage = LocalStorage(tmp_path / "objects", PartSigner(b"k", "http://x"))
    upload_id = await storage.create_multipart(KEY, None)
    request = await storage.presign_part(KEY, upload_id, 1, 10 * MiB, expires_in=60)
    query = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.receive_part(
            upload_id,
            1,
            int(query["max_size"]),
            int(query["expires"]),
            query["signature"],
            broken(),
        )
    assert await storage.list_parts(KEY, upload_id) == []
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []


async def test_s3_with_a_cdn_hands_out_cdn_urls(moto: Moto) -> None:
    settings = Settings(
        storage_url="s3://bucket/pre",
        s3_endpoint_url=moto.endpoint,
        cdn_url="https://cdn.example/",
        _env_file=None,
    )
    storage = open_storage(settings)
    url = storage.public_url("outputs/v/e1/seg.m4s", 60)
    assert url == "https://cdn.example/pre/outputs/v/e1/seg.m4s"
    # A CDN URL is not signed: a private video's segments are presigned instead.
    private = storage.public_url("outputs/v/e1/seg.m4s", 60, private=True)
    assert private is not None
    assert private.startswith(moto.endpoint)
    assert "X-Amz-Signature=" in private


async def test_wrong_credentials_are_named(moto_with_auth: Moto) -> None:
    settings = Settings(
        storage_url="s3://bucket",
        s3_endpoint_url=moto_with_auth.endpoint,
        _env_file=None,
    )
    with pytest.raises(errors.ConfigurationError, match="refused the credentials"):
        await open_storage(settings).check()
