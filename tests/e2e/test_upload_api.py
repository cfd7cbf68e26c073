"""The upload API end to end over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import signed_in
from vodstack.db import sql_stores
from vodstack.db.engine import create_engine
from vodstack.db.tables import job_events, jobs
from vodstack.settings import MiB, Settings

DATA = os.urandom(12 * MiB)  # three parts of 5, 5 and 2 MiB at the tests' 5 MiB part size


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


async def create(api: httpx.AsyncClient, size: int = len(DATA), **extra: Any) -> dict[str, Any]:
    response = await api.post("/v1/uploads", json={"filename": "clip.mp4", "size": size, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def part_urls(api: httpx.AsyncClient, upload_id: str, numbers: list[int]) -> dict[int, str]:
    response = await api.post(f"/v1/uploads/{upload_id}/parts", json={"part_numbers": numbers})
    assert response.status_code == 200, response.text
    return {p["part_number"]: p["url"] for p in response.json()["parts"]}


async def send_all(
    api: httpx.AsyncClient, upload_id: str, data: bytes = DATA
) -> list[dict[str, Any]]:
    part_size = 5 * MiB
    count = -(-len(data) // part_size)
    urls = await part_urls(api, upload_id, list(range(1, count + 1)))
    parts = []
    for n, url in urls.items():
        chunk = data[(n - 1) * part_size : n * part_size]
        response = await api.put(url, content=chunk)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{md5(chunk)}"'
        parts.append({"part_number": n, "etag": response.headers["etag"]})
    return parts


def no_multipart_left(settings: Settings) -> bool:
    return not any((settings.data_dir / "objects" / ".multipart").iterdir())


async def test_upload_flow(api: httpx.AsyncClient, settings: Settings) -> None:
    created = await create(api, title="My clip")
    assert (created["part_size"], created["part_count"]) == (5 * MiB, 3)
    upload_id, video_id = created["upload_id"], created["video_id"]

    video = (await api.get(f"/v1/videos/{video_id}")).json()
    assert (video["status"], video["title"], video["filename"]) == (
        "uploading",
        "My clip",
        "clip.mp4",
    )

    parts = await send_all(api, upload_id)
    state = (await api.get(f"/v1/uploads/{upload_id}")).json()
    assert state["status"] == "active"
    assert [(p["part_number"], p["size"]) for p in state["parts"]] == [
        (1, 5 * MiB),
        (2, 5 * MiB),
        (3, 2 * MiB),
    ]

    first = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": parts})
    assert first.status_code == 202, first.text
    assert first.json() == {"video_id": video_id, "status": "queued"}
    again = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": parts})
    assert (again.status_code, again.json()) == (202, first.json())

    stored = settings.data_dir / "objects" / "sources" / video_id / "source"
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(DATA).digest()
    assert no_multipart_left(settings)
    state = (await api.get(f"/v1/uploads/{upload_id}")).json()
    assert state["status"] == "completed"
    assert [p["etag"] for p in state["parts"]] == [p["etag"].strip('"') for p in parts]
    listing = (await api.get("/v1/videos")).json()["videos"]
    assert [(v["id"], v["status"], v["warnings"]) for v in listing] == [(video_id, "queued", [])]

    engine = create_engine(settings.database_url)
    async with engine.connect() as conn:
        job_rows = (await conn.execute(select(jobs))).mappings().all()
        events = (await conn.execute(select(job_events))).mappings().all()
    await engine.dispose()
    assert [(j["video_id"], j["status"], j["epoch"], j["attempts"]) for j in job_rows] == [
        (video_id, "queued", 0, 0)
    ]
    assert [(e["kind"], e["status"]) for e in events] == [("queued", "queued")]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "../../etc/passwd", "size": 10}, 400, "invalid_filename"),
        ({"filename": "dir\\clip.mp4", "size": 10}, 400, "invalid_filename"),
        ({"filename": "clip\x00.mp4", "size": 10}, 400, "invalid_filename"),
        ({"filename": "clip\x1b[31m.mp4", "size": 10}, 400, "invalid_filename"),
        ({"filename": "", "size": 10}, 400, "invalid_filename"),
        ({"filename": "clip.mp4", "size": 0}, 400, "invalid_size"),
        ({"filename": "clip.mp4", "size": -1}, 400, "invalid_size"),
        ({"filename": "clip.mp4", "size": 200 * MiB + 1}, 400, "invalid_size"),
        ({"filename": "clip.mp4", "size": "big"}, 422, "invalid_request"),
        ({"filename": "clip.mp4"}, 422, "invalid_request"),
        ({"filename": "clip.mp4", "size": 10, "owner": "x"}, 422, "invalid_request"),
    ],
)
async def test_create_rejects_bad_input_and_stores_nothing(
    api: httpx.AsyncClient, settings: Settings, body: dict[str, Any], status: int, code: str
) -> None:
    assert error_of(await api.post("/v1/uploads", json=body)) == (status, code)
    assert (await api.get("/v1/videos")).json()["videos"] == []
    assert no_multipart_left(settings)


@pytest.mark.parametrize(
    "path", ["/v1/uploads", "/v1/uploads/{id}/parts", "/v1/uploads/{id}/complete"]
)
async def test_a_body_that_is_not_json(api: httpx.AsyncClient, path: str) -> None:
    created = await create(api)
    url = path.format(id=created["upload_id"])
    response = await api.post(
        url, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert error_of(response) == (400, "invalid_json")


@pytest.mark.parametrize("numbers", [[0], [4], [1, 2, 3, 4], [-1], []])
async def test_presign_rejects_part_numbers_out_of_range(
    api: httpx.AsyncClient, numbers: list[int]
) -> None:
    created = await create(api)
    response = await api.post(
        f"/v1/uploads/{created['upload_id']}/parts", json={"part_numbers": numbers}
    )
    assert error_of(response) == (400, "invalid_part_number")


async def test_tampered_part_urls_are_refused(api: httpx.AsyncClient, settings: Settings) -> None:
    created = await create(api)
    url = httpx.URL((await part_urls(api, created["upload_id"], [3]))[3])
    params = dict(url.params)
    for change in (
        {"signature": params["signature"][:-2] + "xx"},
        {"max_size": str(int(params["max_size"]) + 1)},
        {"expires": str(int(params["expires"]) + 3600)},
        {"signature": ""},
    ):
        response = await api.put(url.copy_merge_params(change), content=b"x")
        assert error_of(response) == (403, "signature_invalid")
    other_part = url.copy_with(path=url.path.rsplit("/", 1)[0] + "/2")
    assert error_of(await api.put(other_part, content=b"x")) == (403, "signature_invalid")
    assert (await api.get(f"/v1/uploads/{created['upload_id']}")).json()["parts"] == []


async def test_expired_part_urls_are_refused(tmp_path: Path, database_url: str) -> None:
    from vodstack.api import create_app

    settings = Settings(
        data_dir=tmp_path / "d",
        database_url=database_url,
        public_url="http://testserver",
        presign_seconds=1,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), signed_in(app) as api:
        created = await create(api, size=10)
        url = (await part_urls(api, created["upload_id"], [1]))[1]
        expires = int(httpx.URL(url).params["expires"])
        import asyncio
        import time

        await asyncio.sleep(max(0.0, expires + 1.05 - time.time()))
        assert error_of(await api.put(url, content=b"0123456789")) == (403, "signature_expired")


async def test_a_part_larger_than_the_part_size(api: httpx.AsyncClient) -> None:
    created = await create(api)
    urls = await part_urls(api, created["upload_id"], [1, 3])
    assert error_of(await api.put(urls[1], content=b"x" * (5 * MiB + 1))) == (413, "part_too_large")

    # Without a Content-Length the body is counted as it streams in.
    async def body() -> Any:
        yield b"x" * (2 * MiB)
        yield b"x"

    assert error_of(await api.put(urls[3], content=body())) == (413, "part_too_large")
    assert (await api.get(f"/v1/uploads/{created['upload_id']}")).json()["parts"] == []


async def test_bad_completions_change_nothing(api: httpx.AsyncClient, settings: Settings) -> None:
    created = await create(api)
    upload_id = created["upload_id"]
    parts = await send_all(api, upload_id)
    wrong_etag = [parts[0], {"part_number": 2, "etag": md5(b"other")}, parts[2]]
    cases = [
        (parts[:2], "missing_parts"),
        ([parts[1], parts[0], parts[2]], "invalid_part_order"),
        (wrong_etag, "etag_mismatch"),
        ([*parts, {"part_number": 4, "etag": parts[0]["etag"]}], "invalid_part_number"),
        ([], "missing_parts"),
    ]
    for body, code in cases:
        response = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": body})
        assert error_of(response) == (400, code), body
    video = (await api.get(f"/v1/videos/{created['video_id']}")).json()
    assert video["status"] == "uploading"
    assert len((await api.get(f"/v1/uploads/{upload_id}")).json()["parts"]) == 3
    ok = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": parts})
    assert ok.status_code == 202


async def test_a_part_that_was_never_uploaded_or_has_the_wrong_size(api: httpx.AsyncClient) -> None:
    created = await create(api)
    upload_id = created["upload_id"]
    urls = await part_urls(api, upload_id, [1, 2, 3])
    etags = {}
    for n, data in ((1, DATA[: 5 * MiB]), (3, DATA[10 * MiB : 11 * MiB])):
        etags[n] = (await api.put(urls[n], content=data)).headers["etag"]
    listed = [{"part_number": n, "etag": etags.get(n, md5(b"?"))} for n in (1, 2, 3)]
    response = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": listed})
    assert error_of(response) == (400, "missing_parts")
    assert "2" in response.json()["error"]["message"]
    etags[2] = (await api.put(urls[2], content=DATA[5 * MiB : 10 * MiB])).headers["etag"]
    listed = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    response = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": listed})
    assert error_of(response) == (400, "part_size_mismatch")


async def test_abort(api: httpx.AsyncClient, settings: Settings) -> None:
    created = await create(api)
    upload_id = created["upload_id"]
    parts = await send_all(api, upload_id)
    assert (await api.delete(f"/v1/uploads/{upload_id}")).status_code == 204
    assert (await api.delete(f"/v1/uploads/{upload_id}")).status_code == 204
    assert no_multipart_left(settings)
    state = (await api.get(f"/v1/uploads/{upload_id}")).json()
    assert (state["status"], state["parts"], state["video_id"]) == ("aborted", [], None)
    assert error_of(await api.get(f"/v1/videos/{created['video_id']}")) == (404, "video_not_found")
    response = await api.post(f"/v1/uploads/{upload_id}/complete", json={"parts": parts})
    assert error_of(response) == (409, "upload_aborted")
    response = await api.post(f"/v1/uploads/{upload_id}/parts", json={"part_numbers": [1]})
    assert error_of(response) == (409, "upload_aborted")


async def test_a_completed_upload_cannot_be_aborted(api: httpx.AsyncClient) -> None:
    created = await create(api)
    parts = await send_all(api, created["upload_id"])
    await api.post(f"/v1/uploads/{created['upload_id']}/complete", json={"parts": parts})
    assert error_of(await api.delete(f"/v1/uploads/{created['upload_id']}")) == (
        409,
        "upload_completed",
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", "/v1/uploads/{u}", None, "upload_not_found"),
        ("POST", "/v1/uploads/{u}/parts", {"part_numbers": [1]}, "upload_not_found"),
        (
            "POST",
            "/v1/uploads/{u}/complete",
            {"parts": [{"part_number": 1, "etag": "x"}]},
            "upload_not_found",
        ),
        ("DELETE", "/v1/uploads/{u}", None, "upload_not_found"),
        ("GET", "/v1/videos/{u}", None, "video_not_found"),
        ("GET", "/v1/nothing-here", None, "not_found"),
    ],
)
@pytest.mark.parametrize("unknown", ["0" * 32, "..%2F..%2Fetc", "x" * 300])
async def test_unknown_ids(
    api: httpx.AsyncClient, method: str, path: str, body: Any, code: str, unknown: str
) -> None:
    response = await api.request(method, path.format(u=unknown), json=body)
    status, got = error_of(response)
    # An id with an encoded slash may not even reach the route: still a 404, never a 5xx.
    assert (status, got) == (404, code) or (
        "%2F" in unknown and (status, got) == (404, "not_found")
    )


async def test_a_boolean_is_not_a_number(api: httpx.AsyncClient) -> None:
    for body in (
        {"filename": "a.mp4", "size": True},
        {"filename": "a.mp4", "size": "10"},
    ):
        assert error_of(await api.post("/v1/uploads", json=body)) == (422, "invalid_request")
    created = await create(api, size=10)
    presign = await api.post(
        f"/v1/uploads/{created['upload_id']}/parts", json={"part_numbers": [True]}
    )
    assert error_of(presign) == (422, "invalid_request")


async def test_the_warnings_a_worker_found_are_part_of_the_video(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    created = await create(api, size=10)
    video_id = created["video_id"]
    parts = await send_all(api, created["upload_id"], b"0123456789")
    completed = await api.post(
        f"/v1/uploads/{created['upload_id']}/complete", json={"parts": parts}
    )
    assert completed.status_code == 202, completed.text
    truncated = "the file is truncated: 0.9 s of 1.6 s could be decoded"
    engine = create_engine(settings.database_url)
    try:
        worker = sql_stores(engine, settings.lease_seconds).jobs
        lease = await worker.claim("w", video_id)
        assert lease is not None
        assert await worker.warn(lease, [truncated])
    finally:
        await engine.dispose()
    assert (await api.get(f"/v1/videos/{video_id}")).json()["warnings"] == [truncated]
    listing = (await api.get("/v1/videos")).json()["videos"]
    assert [v["warnings"] for v in listing] == [[truncated]]
    events = (await api.get(f"/v1/videos/{video_id}/events")).json()["events"]
    assert (events[-1]["kind"], events[-1]["reason"]) == ("warned", truncated)
