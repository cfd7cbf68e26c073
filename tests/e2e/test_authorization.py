"""Who may do what: every endpoint, asked by an anonymous client, another user, the owner
and an admin, on a public and on a private video. Then playback tokens: tampered, expired,
for another video, replayed on another video's segments, bound to another address. Then
path traversal on every path parameter."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest
from fastapi import FastAPI

from tests.support.uploads import complete_in_one_part
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.api import create_app
from vodstack.domain.signing import PlaybackGrant, playback_token
from vodstack.runtime import build_worker, open_backends
from vodstack.settings import MiB, Settings, ensure_signing_key

CALLERS = ("anonymous", "other", "owner", "admin")
BODY = b"a tiny video, transcoded by the fake transcoder"


@dataclass
class World:
    app: FastAPI
    settings: Settings
    clients: dict[str, httpx.AsyncClient]
    public: str  # the owner's public, ready video
    private: str  # the owner's private, ready video
    upload: str  # the owner's upload, still open


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        part_size=5 * MiB,
        _env_file=None,
    )
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        clients = {"anonymous": _client(app, None)}
        for name in ("other", "owner", "admin"):
            # "admin" itself exists already: the embedded install's first admin.
            _, key = await app.state.services.accounts.create_user(
                f"{name}-1", admin=name == "admin"
            )
            clients[name] = _client(app, key)
        for client in clients.values():
            await stack.enter_async_context(client)
        owner = clients["owner"]
        public = await _ready_video(owner, "public")
        private = await _ready_video(owner, "private")
        upload = await _open_upload(owner, "private")
        async with open_backends(settings) as backends:
            await build_worker(backends, transcoder=FakeTranscoder(), once=True).run()
        yield World(app, settings, clients, public, private, upload)


def _client(app: FastAPI, key: str | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {key}"} if key else {},
    )


async def _open_upload(client: httpx.AsyncClient, visibility: str) -> str:
    created = await client.post(
        "/v1/uploads",
        json={"filename": "clip.mp4", "size": len(BODY), "visibility": visibility},
    )
    assert created.status_code == 201, created.text
    upload_id: str = created.json()["upload_id"]
    return upload_id


async def _ready_video(client: httpx.AsyncClient, visibility: str) -> str:
    return await complete_in_one_part(client, await _open_upload(client, visibility), BODY)


# (method, path, body, status for each caller); {v} is the video, {u} the owner's open upload.
Row = tuple[str, str, object, tuple[int, int, int, int]]
PRIVATE_VIDEO: list[Row] = [
    ("GET", "/v1/videos/{v}", None, (404, 404, 200, 200)),
    ("PATCH", "/v1/videos/{v}", {"title": "new"}, (401, 404, 200, 200)),
    ("GET", "/v1/videos/{v}/events", None, (401, 404, 200, 200)),
    ("POST", "/v1/videos/{v}/retry", None, (401, 404, 409, 409)),
    ("GET", "/v1/videos/{v}/playback", None, (404, 404, 200, 200)),
    ("POST", "/v1/videos/{v}/playback-tokens", {}, (401, 404, 201, 201)),
    ("GET", "/v1/videos/{v}/hls/e1/master.m3u8", None, (403, 403, 403, 403)),
    ("DELETE", "/v1/videos/{v}", None, (401, 404, 204, 204)),
]
PUBLIC_VIDEO: list[Row] = [
    ("GET", "/v1/videos/{v}", None, (200, 200, 200, 200)),
    ("PATCH", "/v1/videos/{v}", {"title": "new"}, (401, 403, 200, 200)),
    ("GET", "/v1/videos/{v}/events", None, (401, 403, 200, 200)),
    ("POST", "/v1/videos/{v}/retry", None, (401, 403, 409, 409)),
    ("GET", "/v1/videos/{v}/playback", None, (200, 200, 200, 200)),
    ("POST", "/v1/videos/{v}/playback-tokens", {}, (401, 403, 201, 201)),
    ("GET", "/v1/videos/{v}/hls/e1/master.m3u8", None, (200, 200, 200, 200)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s", None, (200, 200, 200, 200)),
    ("DELETE", "/v1/videos/{v}", None, (401, 403, 204, 204)),
]
UPLOADS: list[Row] = [
    ("POST", "/v1/uploads", {"filename": "a.mp4", "size": 10}, (401, 201, 201, 201)),
    ("GET", "/v1/uploads/{u}", None, (401, 404, 200, 200)),
    ("POST", "/v1/uploads/{u}/parts", {"part_numbers": [1]}, (401, 404, 200, 200)),
    (
        "POST",
        "/v1/uploads/{u}/complete",
        {"parts": [{"part_number": 1, "etag": "0" * 32}]},
        (401, 404, 400, 400),
    ),
    ("DELETE", "/v1/uploads/{u}", None, (401, 404, 204, 204)),
]


@pytest.mark.parametrize(
    ("video", "row"),
    [("private", r) for r in PRIVATE_VIDEO]
    + [("public", r) for r in PUBLIC_VIDEO]
    + [("-", r) for r in UPLOADS],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]} {value[1]}",
)
async def test_authorization_matrix(world: World, video: str, row: Row) -> None:
    method, path, body, statuses = row
    for caller, expected in zip(CALLERS, statuses, strict=True):
        video_id = world.private if video == "private" else world.public
        upload_id = world.upload
        if method == "DELETE":  # each caller gets its own target: deleting is for good
            owner = world.clients["owner"]
            if video == "-":
                upload_id = await _open_upload(owner, "private")
            else:
                video_id = await _ready_video(owner, video)
                async with open_backends(world.settings) as backends:
                    await build_worker(backends, transcoder=FakeTranscoder(), once=True).run()
        url = path.format(v=video_id, u=upload_id)
        response = await world.clients[caller].request(
            method, url, json=body if body is not None else None
        )
        assert response.status_code == expected, (caller, response.text)
        if expected >= 400:
            assert set(response.json()["error"]) == {"code", "message"}


async def test_who_lists_what(world: World) -> None:
    async def listed(caller: str) -> set[str]:
        response = await world.clients[caller].get("/v1/videos")
        return {v["id"] for v in response.json()["videos"]}

    assert await listed("anonymous") == {world.public}
    assert await listed("other") == set()
    uploading = (await world.clients["owner"].get(f"/v1/uploads/{world.upload}")).json()
    mine = {world.public, world.private, uploading["video_id"]}
    assert await listed("owner") == mine
    assert await listed("admin") == mine


async def test_a_deleted_video_leaves_nothing_in_storage(world: World) -> None:
    objects = world.settings.data_dir / "objects"
    assert list((objects / "outputs" / world.public).rglob("*.m4s"))
    response = await world.clients["owner"].delete(f"/v1/videos/{world.public}")
    assert response.status_code == 204
    assert not (objects / "outputs" / world.public).exists()
    assert not (objects / "sources" / world.public).exists()
    assert (await world.clients["owner"].get(f"/v1/videos/{world.public}")).status_code == 404


# --- playback tokens ---------------------------------------------------------------------


async def _token(world: World, video_id: str, **body: object) -> dict[str, str]:
    response = await world.clients["owner"].post(
        f"/v1/videos/{video_id}/playback-tokens", json=body
    )
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


async def test_a_token_opens_the_whole_ladder_and_nothing_else(world: World) -> None:
    anonymous = world.clients["anonymous"]
    issued = await _token(world, world.private, expires_in=600)
    master = await anonymous.get(issued["master_url"])
    assert master.status_code == 200
    assert master.headers["cache-control"].startswith("private")
    variant = next(line for line in master.text.splitlines() if line.endswith(issued["token"]))
    base = issued["master_url"].split("?")[0].rsplit("/", 1)[0]
    playlist = await anonymous.get(f"{base}/{variant}")
    assert playlist.status_code == 200
    uris = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
    init = playlist.text.split('URI="', 1)[1].split('"', 1)[0]
    folder = f"{base}/{variant}".split("?")[0].rsplit("/", 1)[0]
    for uri in [init, *uris]:
        assert parse_qs(urlparse(uri).query)["token"] == [issued["token"]]
        assert (await anonymous.get(f"{folder}/{uri}")).status_code == 200
        bare = uri.split("?")[0]
        refused = await anonymous.get(f"{folder}/{bare}")
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403,
            "signature_invalid",
        )
    played = await anonymous.get(
        f"/v1/videos/{world.private}/playback", params={"token": issued["token"]}
    )
    assert played.status_code == 200
    assert played.json()["expires_at"] == issued["expires_at"]


def _master(world: World, video_id: str) -> str:
    return f"/v1/videos/{video_id}/hls/e1/master.m3u8"


async def test_tampered_tokens_are_refused(world: World) -> None:
    token = (await _token(world, world.private))["token"]
    claims, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged_claims = playback_token(
        PlaybackGrant(world.private, int(time.time()) + 10**6), b"not the server's key"
    ).split(".")[0]
    for bad in (f"{claims}.{flipped}", f"{forged_claims}.{signature}", "garbage", ".", ""):
        response = await world.clients["anonymous"].get(
            _master(world, world.private), params={"token": bad}
        )
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "signature_invalid"


async def test_an_expired_token_is_refused(world: World) -> None:
    key = ensure_signing_key(world.settings)
    expired = playback_token(PlaybackGrant(world.private, int(time.time()) - 1), key)
    response = await world.clients["anonymous"].get(
        _master(world, world.private), params={"token": expired}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "signature_expired")


async def test_a_token_for_one_video_opens_no_other(world: World) -> None:
    other = await _ready_video(world.clients["owner"], "private")
    async with open_backends(world.settings) as backends:
        await build_worker(backends, transcoder=FakeTranscoder(), once=True).run()
    token = (await _token(world, world.private))["token"]
    for path in ("master.m3u8", "720p/index.m3u8", "720p/seg_00000.m4s", "720p/init.mp4"):
        response = await world.clients["anonymous"].get(
            f"/v1/videos/{other}/hls/e1/{path}", params={"token": token}
        )
        assert response.status_code == 403, path
        assert "another video" in response.json()["error"]["message"]


async def test_a_token_bound_to_an_address_works_only_from_it(world: World) -> None:
    token = (await _token(world, world.private, bind_ip=True))["token"]
    here = await world.clients["anonymous"].get(
        _master(world, world.private), params={"token": token}
    )
    assert here.status_code == 200
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app, client=("203.0.113.7", 4000)),
        base_url="http://testserver",
    )
    async with elsewhere:
        response = await elsewhere.get(_master(world, world.private), params={"token": token})
    assert response.status_code == 403
    assert "another address" in response.json()["error"]["message"]


async def test_creating_tokens_is_rate_limited(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        playback_tokens_per_minute=3,
        uploads_per_minute=2,
        _env_file=None,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, key = await app.state.services.accounts.create_user("busy")
        async with _client(app, key) as client:
            statuses = [
                (
                    await client.post("/v1/uploads", json={"filename": "a.mp4", "size": 1})
                ).status_code
                for _ in range(3)
            ]
            assert statuses == [201, 201, 429]
            refused = await client.post("/v1/uploads", json={"filename": "a.mp4", "size": 1})
            assert refused.json()["error"]["code"] == "rate_limited"
            assert "try again in" in refused.json()["error"]["message"]


# --- path traversal --------------------------------------------------------------------

TRAVERSALS = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..", "%00", "a%2Fb", "..%5C..%5Cwin.ini"]
PATHS = [
    ("GET", "/v1/videos/{x}"),
    ("PATCH", "/v1/videos/{x}"),
    ("DELETE", "/v1/videos/{x}"),
    ("GET", "/v1/videos/{x}/events"),
    ("POST", "/v1/videos/{x}/retry"),
    ("GET", "/v1/videos/{x}/playback"),
    ("POST", "/v1/videos/{x}/playback-tokens"),
    ("GET", "/v1/videos/{v}/hls/e1/{x}"),
    ("GET", "/v1/videos/{v}/hls/e1/720p/{x}"),
    ("GET", "/v1/videos/{v}/hls/e{x}/master.m3u8"),
    ("GET", "/v1/uploads/{x}"),
    ("POST", "/v1/uploads/{x}/parts"),
    ("POST", "/v1/uploads/{x}/complete"),
    ("DELETE", "/v1/uploads/{x}"),
    ("PUT", "/v1/storage/parts/{x}/1"),
    ("GET", "/static/{x}"),
    ("GET", "/videos/{x}"),
]


async def test_path_traversal_reaches_nothing(world: World) -> None:
    """Every path parameter of every route, sent as raw paths straight to the app: an HTTP
    client would resolve the dot segments before the server ever saw them."""
    key = world.clients["admin"].headers["Authorization"]  # the most powerful caller
    for (method, path), attempt in itertools.product(PATHS, TRAVERSALS):
        raw_path = path.replace("{v}", world.public).replace("{x}", attempt)
        status, body = await _raw_request(world.app, method, raw_path, key)
        assert status in (400, 403, 404, 405, 422), (raw_path, status)
        assert b"root:" not in body
        assert b"[fonts]" not in body


async def _raw_request(
    app: FastAPI, method: str, raw_path: str, authorization: str
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", authorization.encode()),
            (b"content-type", b"application/json"),
        ],
    }
    sent: list[dict[str, object]] = []
    request_body = b"{}" if method != "GET" else b""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": request_body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    status = next(int(str(m["status"])) for m in sent if m["type"] == "http.response.start")
    body = b"".join(bytes(m.get("body", b"")) for m in sent if m["type"] == "http.response.body")  # type: ignore[call-overload]
    return status, body
