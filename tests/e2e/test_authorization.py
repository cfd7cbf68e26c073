"""Who may do what: every route the app serves, asked by an anonymous client, another user,
the owner and an admin, on a public and on a private video and an open upload; a route
with no row fails the tests that check that. Then playback tokens: tampered, expired, for
another video, replayed on another video's segments, bound to another address. Then path
traversal on every path parameter."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from starlette.routing import Match, Route

from tests.conftest import SYSTEM
from tests.support.uploads import complete_in_one_part
from vodstack.adapters.transcoder_fake import FakeFrameGrabber, FakeTranscoder
from vodstack.api import create_app, served_app
from vodstack.api import routes as routes_package
from vodstack.api.routes.pages import find_hls_js
from vodstack.domain.accounts import ApiKey, full_scopes, new_key
from vodstack.domain.signing import PlaybackGrant, playback_token
from vodstack.runtime import build_worker, open_backends
from vodstack.settings import MiB, Settings, ensure_signing_key

PEOPLE = ("anonymous", "other", "owner", "admin")
# The owner's keys: one that may only read, one that may only upload, a revoked one and one
# that has expired.
KEYS = ("reader", "uploader", "revoked", "expired")
# A direct-upload token of the owner's, which has not started its upload yet.
CALLERS = PEOPLE + KEYS + ("direct",)
BODY = b"a tiny video, transcoded by the fake transcoder"
SRT = b"1\n00:00:00,500 --> 00:00:01,500\nHello\n"


@dataclass(frozen=True)
class CaptionForm:
    """A row's multipart body: a caption file and its fields."""

    fields: tuple[tuple[str, str], ...] = (("language", "en"), ("name", "English"))
    file: bytes = SRT


@dataclass
class World:
    app: FastAPI
    settings: Settings
    clients: dict[str, httpx.AsyncClient]
    public: str  # the owner's public, ready video
    private: str  # the owner's private, ready video
    upload: str  # the owner's upload, still open
    stored_upload: str  # the open upload's id in storage, which part URLs name
    part_query: str  # the signed query of the open upload's part 1 URL
    webhook: str  # the owner's webhook
    delivery: str  # one of its deliveries
    captions: dict[str, str]  # a caption of each ready video, by video id


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        part_size=5 * MiB,
        webhook_allow_private=True,
        webhook_delivery=False,
        _env_file=None,
    )
    # The fake ladder's segments hold no frames: pictures are the fake's stand-in.
    app = create_app(settings, frames=FakeFrameGrabber())
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        clients = {"anonymous": _client(app, None)}
        users = {}
        for name in ("other", "owner", "admin"):
            # "admin" itself exists already: the embedded install's first admin.
            users[name], key = await app.state.services.accounts.create_user(
                f"{name}-1", name == "admin", SYSTEM
            )
            clients[name] = _client(app, key)
        owner = clients["owner"] = await stack.enter_async_context(clients["owner"])
        clients |= await _owners_keys(app, settings, owner, users["owner"].id)
        for name, client in clients.items():
            if name != "owner":
                await stack.enter_async_context(client)
        webhook = await _webhook(owner)
        public = await _ready_video(owner, "public")
        private = await _ready_video(owner, "private")
        upload = await _open_upload(owner, "private")
        stored_upload, part_query = await _part_url(owner, upload)
        await _transcode(settings)
        listed = await owner.get(f"/v1/webhooks/{webhook}/deliveries")
        delivery = listed.json()["deliveries"][0]["id"]
        captions = {v: await _caption(owner, v) for v in (public, private)}
        yield World(
            app,
            settings,
            clients,
            public,
            private,
            upload,
            stored_upload,
            part_query,
            webhook,
            delivery,
            captions,
        )


async def _caption(client: httpx.AsyncClient, video_id: str) -> str:
    form = CaptionForm()
    added = await client.post(
        f"/v1/videos/{video_id}/captions", data=dict(form.fields), files={"file": form.file}
    )
    assert added.status_code == 201, added.text
    caption_id: str = added.json()["id"]
    return caption_id


async def _webhook(client: httpx.AsyncClient) -> str:
    created = await client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"})
    assert created.status_code == 201, created.text
    webhook_id: str = created.json()["id"]
    return webhook_id


async def _owners_keys(
    app: FastAPI, settings: Settings, owner: httpx.AsyncClient, owner_id: str
) -> dict[str, httpx.AsyncClient]:
    keys = {}
    for name, scopes in (("reader", ["read"]), ("uploader", ["upload"]), ("revoked", None)):
        keys[name] = await _new_key(owner, name, scopes)
    revoked_id = keys["revoked"].split("_")[1]
    assert (await owner.delete(f"/v1/keys/{revoked_id}")).status_code == 204
    keys["expired"] = await _expired_key(settings, owner_id)
    made = await owner.post("/v1/direct-uploads", json={"visibility": "private"})
    assert made.status_code == 201, made.text
    keys["direct"] = made.json()["token"]
    return {name: _client(app, key) for name, key in keys.items()}


async def _new_key(client: httpx.AsyncClient, name: str, scopes: list[str] | None) -> str:
    created = await client.post("/v1/keys", json={"name": name, "scopes": scopes})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


async def _expired_key(settings: Settings, owner_id: str) -> str:
    """One of the owner's keys that expired a second ago (made so, not waited for)."""
    parts = new_key()
    now = datetime.now(UTC)
    expired = ApiKey(
        parts.key_id,
        owner_id,
        "expired",
        full_scopes(False),
        created_at=now - timedelta(hours=1),
        expires_at=now - timedelta(seconds=1),
    )
    async with open_backends(settings) as backends:
        await backends.stores.accounts.add_key(expired, PasswordHasher().hash(parts.secret))
    return parts.full


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


async def _transcode(settings: Settings) -> None:
    """Every queued video, made ready by the fake transcoder, with an MP4 to download."""
    async with open_backends(settings) as backends:
        await build_worker(backends, transcoder=FakeTranscoder(mp4=True), once=True).run()


async def _part_url(client: httpx.AsyncClient, upload_id: str) -> tuple[str, str]:
    """Where part 1 of the upload goes: the upload's id in storage, and the signed query."""
    presigned = await client.post(f"/v1/uploads/{upload_id}/parts", json={"part_numbers": [1]})
    assert presigned.status_code == 200, presigned.text
    url = urlsplit(presigned.json()["parts"][0]["url"])
    return url.path.rsplit("/", 2)[-2], url.query


# (method, path, body, status for each caller). In paths: {v} the video, {u} the owner's
# open upload, {t} a valid playback token for {v}, {s} the open upload's id in storage and
# {sig} the signed query of its part 1's URL. A bytes body is sent as it is, others as JSON.
Statuses = tuple[int, int, int, int, int, int, int, int, int]
Row = tuple[str, str, object, Statuses]


def _everyone(status: int) -> Statuses:
    """A route that reads no key: whatever key is sent, revoked or not, changes nothing."""
    return (status,) * 9


def _keyed(
    anonymous: int,
    other: int,
    owner: int,
    admin: int,
    reader: int,
    uploader: int,
    direct: int = 403,
) -> Statuses:
    """A route that reads the key: a revoked or an expired one is refused at once, and a
    direct-upload token everywhere but on the upload routes."""
    return (anonymous, other, owner, admin, reader, uploader, 401, 401, direct)


PRIVATE_VIDEO: list[Row] = [
    ("GET", "/v1/videos/{v}", None, _keyed(404, 404, 200, 200, 200, 403)),
    ("PATCH", "/v1/videos/{v}", {"title": "new"}, _keyed(401, 404, 200, 200, 403, 403)),
    ("GET", "/v1/videos/{v}/events", None, _keyed(401, 404, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/retry", None, _keyed(401, 404, 409, 409, 403, 403)),
    ("GET", "/v1/videos/{v}/playback", None, _keyed(404, 404, 200, 200, 200, 403)),
    # A token is what plays a private video: whoever holds it, with a key or without.
    ("GET", "/v1/videos/{v}/playback?token={t}", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/playback-tokens", {}, _keyed(401, 404, 201, 201, 403, 403)),
    # Even the owner's key opens no ladder file: players carry the token instead. Without
    # it, the answer is an unknown id's (test_a_private_video_answers_as_an_unknown_id).
    ("GET", "/v1/videos/{v}/hls/e1/master.m3u8", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/master.m3u8?token={t}", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/index.m3u8", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/index.m3u8?token={t}", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/init.mp4", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s?token={t}", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/captions", None, _keyed(404, 404, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/captions", CaptionForm(), _keyed(401, 404, 201, 201, 403, 403)),
    ("DELETE", "/v1/videos/{v}/captions/{c}", None, _keyed(401, 404, 204, 204, 403, 403)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/index.m3u8", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/index.m3u8?token={t}", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/seg_00000.vtt", None, _everyone(404)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/seg_00000.vtt?token={t}", None, _everyone(200)),
    # Its pictures play by the rules of playback: the owner's key, or a token; its
    # original is its owner's alone.
    ("GET", "/v1/videos/{v}/thumbnail.jpg", None, _keyed(404, 404, 200, 200, 200, 403)),
    (
        "GET",
        "/v1/videos/{v}/thumbnail.jpg?width=160&time=1&token={t}",
        None,
        _keyed(200, 200, 200, 200, 200, 403),
    ),
    ("GET", "/v1/videos/{v}/source", None, _keyed(401, 404, 200, 200, 200, 403)),
    # The MP4 download plays by the rules of playback: the owner's key, or a token.
    ("GET", "/v1/videos/{v}/download.mp4", None, _keyed(404, 404, 200, 200, 200, 403)),
    ("GET", "/v1/videos/{v}/download.mp4?token={t}", None, _keyed(200, 200, 200, 200, 200, 403)),
    # The same page for any id (test_the_player_page_tells_nothing_about_the_video); the
    # embed too: what it shows comes from the API, with the token in its address.
    ("GET", "/videos/{v}", None, _everyone(200)),
    ("GET", "/embed/{v}", None, _everyone(200)),
    ("DELETE", "/v1/videos/{v}", None, _keyed(401, 404, 204, 204, 403, 403)),
]
PUBLIC_VIDEO: list[Row] = [
    ("GET", "/v1/videos/{v}", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("PATCH", "/v1/videos/{v}", {"title": "new"}, _keyed(401, 403, 200, 200, 403, 403)),
    ("GET", "/v1/videos/{v}/events", None, _keyed(401, 403, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/retry", None, _keyed(401, 403, 409, 409, 403, 403)),
    ("GET", "/v1/videos/{v}/playback", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/playback-tokens", {}, _keyed(401, 403, 201, 201, 403, 403)),
    ("GET", "/v1/videos/{v}/hls/e1/master.m3u8", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/index.m3u8", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/captions", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("POST", "/v1/videos/{v}/captions", CaptionForm(), _keyed(401, 403, 201, 201, 403, 403)),
    ("DELETE", "/v1/videos/{v}/captions/{c}", None, _keyed(401, 403, 204, 204, 403, 403)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/index.m3u8", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{c}/seg_00000.vtt", None, _everyone(200)),
    ("GET", "/v1/videos/{v}/thumbnail.jpg", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("GET", "/v1/videos/{v}/source", None, _keyed(401, 403, 200, 200, 200, 403)),
    ("GET", "/v1/videos/{v}/download.mp4", None, _keyed(200, 200, 200, 200, 200, 403)),
    # Only the published epoch is served, to anyone.
    ("GET", "/v1/videos/{v}/hls/e2/master.m3u8", None, _everyone(404)),
    ("GET", "/videos/{v}", None, _everyone(200)),
    ("GET", "/embed/{v}", None, _everyone(200)),
    ("DELETE", "/v1/videos/{v}", None, _keyed(401, 403, 204, 204, 403, 403)),
]
UPLOADS: list[Row] = [
    (
        "POST",
        "/v1/uploads",
        {"filename": "a.mp4", "size": 10},
        _keyed(401, 201, 201, 201, 403, 201, 201),
    ),
    # The token's own upload is another one: the owner's is not its to see.
    ("GET", "/v1/uploads/{u}", None, _keyed(401, 404, 200, 200, 403, 200, 404)),
    (
        "POST",
        "/v1/uploads/{u}/parts",
        {"part_numbers": [1]},
        _keyed(401, 404, 200, 200, 403, 200, 404),
    ),
    (
        "POST",
        "/v1/uploads/{u}/complete",
        {"parts": [{"part_number": 1, "etag": "0" * 32}]},
        _keyed(401, 404, 400, 400, 403, 400, 404),
    ),
    # A part URL is its own credential, as S3's presigned URLs are: no key opens it, and
    # anyone it was handed to may send that part, and only that one, until it expires.
    ("PUT", "/v1/storage/parts/{s}/1", BODY, _everyone(403)),
    ("PUT", "/v1/storage/parts/{s}/1?{sig}", BODY, _everyone(200)),
    ("PUT", "/v1/storage/parts/{s}/2?{sig}", BODY, _everyone(403)),
    ("DELETE", "/v1/uploads/{u}", None, _keyed(401, 404, 204, 204, 403, 204)),
]
# {k}: one of the owner's keys, a new one for each caller.
DIRECT_UPLOADS: list[Row] = [
    ("POST", "/v1/direct-uploads", {}, _keyed(401, 201, 201, 201, 403, 201)),
    # Only a token has a current direct upload: its own.
    ("GET", "/v1/direct-uploads/current", None, _keyed(401, 403, 403, 403, 403, 403, 200)),
]
KEY_ROUTES: list[Row] = [
    ("POST", "/v1/keys", {"name": "ci"}, _keyed(401, 201, 201, 201, 403, 403)),
    ("GET", "/v1/keys", None, _keyed(401, 200, 200, 200, 403, 403)),
    # Another user's key is reported as missing, as if it did not exist; an admin's any.
    ("DELETE", "/v1/keys/{k}", None, _keyed(401, 404, 204, 204, 403, 403)),
]
# {w} the owner's webhook, {d} one of its deliveries: only the owner (or an admin) sees them.
WEBHOOKS: list[Row] = [
    ("GET", "/v1/webhooks", None, _keyed(401, 200, 200, 200, 200, 403)),
    ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/x"}, _keyed(401, 201, 201, 201, 403, 403)),
    ("GET", "/v1/webhooks/{w}/deliveries", None, _keyed(401, 404, 200, 200, 200, 403)),
    (
        "POST",
        "/v1/webhooks/{w}/deliveries/{d}/redeliver",
        None,
        _keyed(401, 404, 202, 202, 403, 403),
    ),
    ("POST", "/v1/webhooks/{w}/rotate-secret", None, _keyed(401, 404, 200, 200, 403, 403)),
    ("DELETE", "/v1/webhooks/{w}", None, _keyed(401, 404, 204, 204, 403, 403)),
]
# hls.js comes from npm; a checkout without web/node_modules answers 404, to anyone.
_HLS_JS = 200 if find_hls_js() else 404
# Open to everyone on purpose: the probes, the metrics, the listing (whose answer depends
# on the caller: test_who_lists_what), and the pages, their static files and the API docs,
# none of which holds user data (the pages' data comes from the API, which decides).
SITE: list[Row] = [
    ("GET", "/healthz", None, _everyone(200)),
    ("GET", "/readyz", None, _everyone(200)),
    ("GET", "/metrics", None, _everyone(200)),
    # A front proxy's question, with the request it asks about in X-Original-URI; without
    # it, a 422 whoever asks: it reads no key (test_a_token_opens_the_whole_ladder...).
    ("GET", "/v1/playback-access", None, _everyone(422)),
    ("GET", "/v1/videos", None, _keyed(200, 200, 200, 200, 200, 403)),
    ("GET", "/", None, _everyone(200)),
    ("GET", "/upload", None, _everyone(200)),
    ("GET", "/static/app.css", None, _everyone(200)),
    ("GET", "/static/vendor/hls.min.js", None, _everyone(_HLS_JS)),
    ("GET", "/openapi.json", None, _everyone(200)),
    ("GET", "/docs", None, _everyone(200)),
    ("GET", "/docs/oauth2-redirect", None, _everyone(200)),
    ("GET", "/redoc", None, _everyone(200)),
]
# (which world object the row names: "private", "public", or "-" for none, the row).
MATRIX: list[tuple[str, Row]] = (
    [("private", r) for r in PRIVATE_VIDEO]
    + [("public", r) for r in PUBLIC_VIDEO]
    + [("-", r) for r in UPLOADS + DIRECT_UPLOADS + KEY_ROUTES + SITE]
    + [("webhook", r) for r in WEBHOOKS]
)


@pytest.mark.parametrize(
    ("video", "row"),
    MATRIX,
    ids=lambda value: value if isinstance(value, str) else f"{value[0]} {value[1]}",
)
async def test_authorization_matrix(world: World, video: str, row: Row) -> None:
    method, path, body, statuses = row
    content = body if isinstance(body, bytes) else None
    sent: dict[str, Any] = {"json": body} if content is None else {"content": content}
    if isinstance(body, CaptionForm):
        sent = {"data": dict(body.fields), "files": {"file": body.file}}
    for caller, expected in zip(CALLERS, statuses, strict=True):
        url = await _url(world, video, method, path)
        response = await world.clients[caller].request(method, url, **sent)
        assert response.status_code == expected, (caller, response.text)
        if expected >= 400:
            assert set(response.json()["error"]) == {"code", "message"}


async def _url(world: World, video: str, method: str, path: str) -> str:
    """The row's path for one caller's request."""
    video_id = world.private if video == "private" else world.public
    upload_id, webhook_id = world.upload, world.webhook
    key_id = ""
    caption_id = world.captions.get(video_id, "")
    if method == "DELETE":  # each caller gets its own target: deleting is for good
        owner = world.clients["owner"]
        if "{k}" in path:
            key_id = (await _new_key(owner, "doomed", None)).split("_")[1]
        if video == "webhook":
            webhook_id = await _webhook(owner)
        elif video == "-":
            upload_id = await _open_upload(owner, "private")
        else:
            video_id = await _ready_video(owner, video)
            await _transcode(world.settings)
            if "{c}" in path:
                caption_id = await _caption(owner, video_id)
    grant = PlaybackGrant(video_id, int(time.time()) + 600)
    token = playback_token(grant, ensure_signing_key(world.settings))
    return path.format(
        v=video_id,
        u=upload_id,
        t=quote(token),
        s=world.stored_upload,
        sig=world.part_query,
        k=key_id,
        w=webhook_id,
        d=world.delivery,
        c=caption_id,
    )


# Which of the owner's videos GET /v1/videos lists to each caller: without a key the
# public ones that are ready, with one the caller's own, to an admin all of them.
LISTED: dict[str, tuple[bool, bool, bool, bool]] = {
    "public": (True, False, True, True),
    "unlisted": (False, False, True, True),
    "private": (False, False, True, True),
    "uploading": (False, False, True, True),
}


async def test_who_lists_what(world: World) -> None:
    owner = world.clients["owner"]
    unlisted = await _ready_video(owner, "unlisted")
    await _transcode(world.settings)
    uploading = (await owner.get(f"/v1/uploads/{world.upload}")).json()["video_id"]
    ids = {
        "public": world.public,
        "unlisted": unlisted,
        "private": world.private,
        "uploading": uploading,
    }
    for index, caller in enumerate(PEOPLE):
        response = await world.clients[caller].get("/v1/videos")
        assert response.status_code == 200
        listed = {v["id"] for v in response.json()["videos"]}
        assert listed == {ids[kind] for kind, seen in LISTED.items() if seen[index]}, caller


async def test_the_player_page_tells_nothing_about_the_video(world: World) -> None:
    """Why a private video's page is served to anyone: it is the page any id gets, made
    or not, and it asks the API, which decides, for everything it shows."""
    anonymous = world.clients["anonymous"]
    private = await anonymous.get(f"/videos/{world.private}")
    unknown = await anonymous.get(f"/videos/{'0' * 32}")
    assert private.status_code == unknown.status_code == 200
    assert private.content == unknown.content


async def test_a_key_gets_no_scope_its_user_lacks(world: World) -> None:
    owner, admin = world.clients["owner"], world.clients["admin"]
    refused = await owner.post("/v1/keys", json={"name": "root", "scopes": ["admin"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    created = await admin.post("/v1/keys", json={"name": "ops"})
    assert created.status_code == 201
    assert created.json()["scopes"] == ["admin", "manage", "read", "upload"]
    own = await owner.post("/v1/keys", json={"name": "mine", "expires_in": 3600})
    assert own.json()["scopes"] == ["manage", "read", "upload"]
    assert own.json()["expires_at"] is not None


async def test_listed_keys_never_show_a_secret(world: World) -> None:
    created = (await world.clients["owner"].post("/v1/keys", json={"name": "ci"})).json()
    listed = (await world.clients["owner"].get("/v1/keys")).json()["keys"]
    by_name = {k["name"]: k for k in listed}
    # An expired key is still listed, to say so; a revoked one is gone.
    assert set(by_name) == {"default", "reader", "uploader", "expired", "ci"}
    assert set(by_name["ci"]) == {
        "id",
        "name",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
    }
    assert by_name["ci"]["id"] == created["id"]
    assert created["key"].split("_", 2)[2] not in str(listed)
    # The owner's default key was used to ask: that use is recorded.
    assert by_name["default"]["last_used_at"] is not None


# --- every route has a row ----------------------------------------------------------------

Operation = tuple[str, str]  # (method, the path template as OpenAPI writes it)
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Stand-ins for a row's placeholders: the rows are matched to routes, not sent.
_EXAMPLE = {
    "v": "0" * 32,
    "u": "1" * 32,
    "t": "token",
    "s": "2" * 32,
    "sig": "signature=x",
    "k": "3" * 16,
    "w": "3" * 32,
    "d": "msg_" + "4" * 32,
    "c": "5" * 32,
}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", _env_file=None)
    return create_app(settings)


def _schema_operations(app: FastAPI) -> set[Operation]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(m.upper(), path) for path, item in paths.items() for m in item if m in _HTTP_METHODS}


def _declared_routes(app: FastAPI) -> list[Route]:
    """Every route the app serves, as Starlette matches requests to them. FastAPI may keep
    an included router's routes behind a wrapper of its own, so they are read where they
    are declared (each module of vodstack.api.routes); the app's own, its docs pages, from
    the app."""
    found = [route for route in app.routes if isinstance(route, Route)]
    for module in pkgutil.iter_modules(routes_package.__path__):
        imported = importlib.import_module(f"{routes_package.__name__}.{module.name}")
        for router in vars(imported).values():
            if isinstance(router, APIRouter):
                found += [route for route in router.routes if isinstance(route, Route)]
    return found


def _operations(routes: Iterable[Route]) -> set[Operation]:
    return {(method, route.path_format) for route in routes for method in route.methods or ()}


def _reached(routes: list[Route], method: str, path: str) -> list[Route]:
    """The routes a row's request reaches, by Starlette's own matching: the row's
    placeholders need not be named as the route's parameters are."""
    scope = {
        "type": "http",
        "method": method,
        "path": urlsplit(path.format(**_EXAMPLE)).path,
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    return [route for route in routes if route.matches(scope)[0] is Match.FULL]


def _covered(routes: list[Route]) -> set[Operation]:
    covered: set[Operation] = set()
    for _, (method, path, _, _) in MATRIX:
        for route in _reached(routes, method, path):
            covered.add((method, route.path_format))
            # HEAD runs the same handler as GET (Starlette drops the body): one row decides.
            if method == "GET" and "HEAD" in (route.methods or ()):
                covered.add(("HEAD", route.path_format))
    return covered


def _named(operations: Iterable[Operation]) -> str:
    return ", ".join(f"{method} {path}" for path, method in sorted((p, m) for m, p in operations))


def test_every_route_of_the_schema_has_a_row(app: FastAPI) -> None:
    schema = _schema_operations(app)
    routes = _declared_routes(app)
    unfound = schema - _operations(routes)
    assert not unfound, f"declared where _declared_routes does not look: {_named(unfound)}"
    missing = schema - _covered(routes)
    assert not missing, f"no row in the authorization matrix for: {_named(missing)}"


def test_every_route_left_out_of_the_schema_has_a_row(app: FastAPI) -> None:
    """The pages, their static files, /metrics and FastAPI's docs are no API, so they are
    left out of the schema (include_in_schema=False); they are served all the same, and
    the player page names a video, so who may call them is decided here too."""
    routes = _declared_routes(app)
    hidden = _operations(routes) - _schema_operations(app)
    assert ("GET", "/videos/{video_id}") in hidden  # not vacuous: the routers' routes are found
    missing = hidden - _covered(routes)
    assert not missing, f"no row in the authorization matrix for: {_named(missing)}"


def test_every_row_reaches_one_route(app: FastAPI) -> None:
    """A row for a route that is gone, or one that two routes could answer, decides
    nothing."""
    routes = _declared_routes(app)
    for _, (method, path, _, _) in MATRIX:
        # Older FastAPI copies the routers' routes into the app's: a copy is no second route.
        reached = {
            (route.path_format, *sorted(route.methods or ()))
            for route in _reached(routes, method, path)
        }
        assert len(reached) == 1, (method, path, reached)


async def test_a_deleted_video_leaves_nothing_in_storage(world: World) -> None:
    objects = world.settings.data_dir / "objects"
    assert list((objects / "outputs" / world.public).rglob("*.m4s"))
    assert list((objects / "captions" / world.public).glob("*.vtt"))
    response = await world.clients["owner"].delete(f"/v1/videos/{world.public}")
    assert response.status_code == 204
    assert not (objects / "outputs" / world.public).exists()
    assert not (objects / "sources" / world.public).exists()
    assert not (objects / "captions" / world.public).exists()
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
            404,
            "video_not_found",
        )
    played = await anonymous.get(
        f"/v1/videos/{world.private}/playback", params={"token": issued["token"]}
    )
    assert played.status_code == 200
    assert played.json()["expires_at"] == issued["expires_at"]
    # What an embed that follows a playable video asks with the token alone: where it stands.
    assert played.json()["status"] == "ready"
    assert played.json()["renditions"], played.json()
    # What a front proxy asks before it sends a segment itself: the same answer.
    segment = urlparse(f"{folder}/{uris[0]}")
    ask = {"X-Original-URI": f"{segment.path}?{segment.query}"}
    allowed = await anonymous.get("/v1/playback-access", headers=ask)
    assert allowed.status_code == 204
    assert allowed.headers["cache-control"].startswith("private")
    bare_ask = {"X-Original-URI": segment.path}
    assert (await anonymous.get("/v1/playback-access", headers=bare_ask)).status_code == 403


async def test_a_token_reaches_the_captions_through_the_master(world: World) -> None:
    anonymous = world.clients["anonymous"]
    issued = await _token(world, world.private, expires_in=600)
    master = (await anonymous.get(issued["master_url"])).text
    caption = world.captions[world.private]
    uri = f"captions/{caption}/index.m3u8?token={quote(issued['token'])}"
    assert f'URI="{uri}"' in master
    base = issued["master_url"].split("?")[0].rsplit("/", 1)[0]
    playlist = await anonymous.get(f"{base}/{uri}")
    assert playlist.status_code == 200
    segments = [line for line in playlist.text.splitlines() if line.startswith("seg_")]
    assert segments == [f"seg_00000.vtt?token={quote(issued['token'])}"]
    segment = await anonymous.get(f"{base}/captions/{caption}/{segments[0]}")
    assert segment.status_code == 200
    assert "Hello" in segment.text


def _master(world: World, video_id: str) -> str:
    return f"/v1/videos/{video_id}/hls/e1/master.m3u8"


async def test_tampered_tokens_are_refused(world: World) -> None:
    """As an unknown id is: a token this server did not sign opens nothing, and tells
    nothing either."""
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
        assert response.status_code == 404, bad
        assert response.json()["error"]["code"] == "video_not_found"


# What a viewer without rights may ask about a private video: each answer must be the one
# an id that names no video gets. {t}: a token that does not open the video.
UNKNOWABLE = [
    "/v1/videos/{v}",
    "/v1/videos/{v}/playback",
    "/v1/videos/{v}/playback?token={t}",
    "/v1/videos/{v}/captions",
    "/v1/videos/{v}/thumbnail.jpg",
    "/v1/videos/{v}/thumbnail.jpg?time=1&token={t}",
    "/v1/videos/{v}/download.mp4?token={t}",
    "/v1/videos/{v}/hls/e1/master.m3u8",
    "/v1/videos/{v}/hls/e1/master.m3u8?token={t}",
    "/v1/videos/{v}/hls/e1/720p/index.m3u8?token={t}",
    "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s",
    "/v1/videos/{v}/hls/e1/720p/seg_00000.m4s?token={t}",
    "/v1/videos/{v}/hls/e1/720p/storyboard.vtt?token={t}",
    "/v1/videos/{v}/hls/e2/master.m3u8?token={t}",
    "/v1/videos/{v}/hls/e1/captions/{c}/index.m3u8?token={t}",
]


async def test_a_private_video_answers_as_an_unknown_id(world: World) -> None:
    """Byte for byte, headers included, through the routed app and through the hot path in
    front of it that serves ladder files: no token, a tampered one, one signed with another
    key, one for another video and garbage, against a made-up id."""
    key = ensure_signing_key(world.settings)
    good = playback_token(PlaybackGrant(world.private, int(time.time()) + 600), key)
    claims, signature = good.split(".")
    bad_tokens = [
        f"{claims}.{signature[::-1]}",
        playback_token(PlaybackGrant(world.private, int(time.time()) + 600), b"x" * 32),
        playback_token(PlaybackGrant(world.public, int(time.time()) + 600), key),
        "garbage",
    ]
    unknown = "f" * len(world.private)
    caption = world.captions[world.private]
    for app in (world.app, served_app(world.app, world.settings, "all")):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for path, token in itertools.product(UNKNOWABLE, bad_tokens):
                asked = path.replace("{t}", quote(token)).replace("{c}", caption)
                private = await _answer(client, asked.replace("{v}", world.private))
                made_up = await _answer(client, asked.replace("{v}", unknown))
                assert private[0] == 404, (asked, private)
                assert private == made_up, asked
        # Also what a front proxy asks before it sends a segment itself.
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            asked_about = {
                v: await client.get(
                    "/v1/playback-access",
                    headers={
                        "X-Original-URI": f"/v1/videos/{v}/hls/e1/720p/seg_00000.m4s",
                        "X-Request-ID": "same",
                    },
                )
                for v in (world.private, unknown)
            }
        refusals = [(r.status_code, r.headers.multi_items()) for r in asked_about.values()]
        assert refusals[0] == refusals[1]
        assert refusals[0][0] == 403


async def _answer(client: httpx.AsyncClient, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The status, the headers in order and the body, with the video's id written as ``V``."""
    video_id = path.split("/")[3]
    response = await client.get(path, headers={"X-Request-ID": "same"})
    headers = [(k, v.replace(video_id, "V")) for k, v in response.headers.multi_items()]
    return response.status_code, headers, response.content.replace(video_id.encode(), b"V")


async def test_an_expired_token_is_refused(world: World) -> None:
    key = ensure_signing_key(world.settings)
    expired = playback_token(PlaybackGrant(world.private, int(time.time()) - 1), key)
    response = await world.clients["anonymous"].get(
        _master(world, world.private), params={"token": expired}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (403, "signature_expired")


async def test_a_token_for_one_video_opens_no_other(world: World) -> None:
    other = await _ready_video(world.clients["owner"], "private")
    await _transcode(world.settings)
    token = (await _token(world, world.private))["token"]
    for path in ("master.m3u8", "720p/index.m3u8", "720p/seg_00000.m4s", "720p/init.mp4"):
        response = await world.clients["anonymous"].get(
            f"/v1/videos/{other}/hls/e1/{path}", params={"token": token}
        )
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "video_not_found"


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
        _, key = await app.state.services.accounts.create_user("busy", False, SYSTEM)
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
            # Counted in a sliding window of a minute: both uploads must slide half out of
            # it (the rest of this minute, then half of the next) before a third fits.
            assert 30 < int(refused.headers["retry-after"]) <= 90


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
    ("GET", "/v1/videos/{x}/download.mp4"),
    ("GET", "/v1/videos/{v}/hls/e1/{x}"),
    ("GET", "/v1/videos/{v}/hls/e1/720p/{x}"),
    ("GET", "/v1/videos/{v}/hls/e{x}/master.m3u8"),
    ("GET", "/v1/videos/{v}/hls/e1/captions/{x}/index.m3u8"),
    ("GET", "/v1/videos/{x}/captions"),
    ("POST", "/v1/videos/{x}/captions"),
    ("DELETE", "/v1/videos/{v}/captions/{x}"),
    ("GET", "/v1/uploads/{x}"),
    ("POST", "/v1/uploads/{x}/parts"),
    ("POST", "/v1/uploads/{x}/complete"),
    ("DELETE", "/v1/uploads/{x}"),
    ("DELETE", "/v1/keys/{x}"),
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
