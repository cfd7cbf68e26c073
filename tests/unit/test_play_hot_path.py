"""The ladder-file hot path in front of the app: what a player's every request gets (the
token checked, the playlist from memory, gzip, CORS, a request id, the metrics and a
sampled access log) without a database lookup or a signature check per request."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from tests.unit.test_playback_video_cache import Clock, CountingVideos, video
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.api.hot_path import HotPath
from vodstack.api.middleware import SAMPLED_ROUTE, RequestIds
from vodstack.api.responses import takes_gzip
from vodstack.domain import signing
from vodstack.domain.accounts import Visibility
from vodstack.domain.signing import PlaybackGrant, playback_token
from vodstack.domain.videos import VideoStatus
from vodstack.ports import VideoStore
from vodstack.services import playback as playback_module
from vodstack.services.playback import PlaybackService
from vodstack.settings import Settings

KEY = b"k" * 32
PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n"
    + "".join(f"#EXTINF:6.000,\nseg_{i:05d}.m4s\n" for i in range(40))
    + "#EXT-X-ENDLIST\n"
)
URL = "/v1/videos/v1/hls/e1/720p/index.m3u8"


@dataclasses.dataclass
class Play:
    client: httpx.AsyncClient
    videos: CountingVideos
    wall: Clock
    signed: list[str]


@pytest.fixture
async def play(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    storage = MemoryStorage(PartSigner(b"k", "http://vod.test"))
    source = tmp_path / "index.m3u8"
    source.write_text(PLAYLIST)
    await storage.upload_file(source, "outputs/v1/e1/720p/index.m3u8")
    videos = CountingVideos(video(VideoStatus.READY, Visibility.PRIVATE))
    wall = Clock()
    settings = Settings(public_url="http://vod.test", access_log_sample=0.25, _env_file=None)
    service = PlaybackService(
        cast(VideoStore, cast(Any, videos)), storage, settings, KEY, wall_clock=wall
    )
    signed: list[str] = []

    def counting(token: str, key: bytes) -> PlaybackGrant:
        signed.append(token)
        return signing.signed_grant(token, key)

    monkeypatch.setattr(playback_module, "signed_grant", counting)
    app = FastAPI()
    app.state.services = SimpleNamespace(playback=service)
    transport = httpx.ASGITransport(app=HotPath(app, settings), client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://vod.test") as client:
        yield Play(client, videos, wall, signed)


def token(expires: int, ip: str | None = None) -> str:
    return playback_token(PlaybackGrant("v1", expires, None, ip), KEY)


async def test_the_token_is_checked_on_every_request_and_its_signature_once(play: Play) -> None:
    good = token(200)
    for _ in range(20):
        answer = await play.client.get(URL, params={"token": good})
        assert answer.status_code == 200
    assert play.videos.lookups == 1  # the video from memory: no store lookup per request
    assert play.signed == [good]  # the signature checked once for this token
    assert "seg_00000.m4s?token=" in answer.text
    # What can change between requests is checked every time, from the kept grant.
    play.wall.now = 201.0
    expired = await play.client.get(URL, params={"token": good})
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "signature_expired"
    bound = token(500, ip="198.51.100.1")
    for _ in range(2):
        elsewhere = await play.client.get(URL, params={"token": bound})
        assert elsewhere.status_code == 403
        assert "another address" in elsewhere.json()["error"]["message"]
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    # A token not signed here, or none, gets what an unknown id gets.
    refused = await play.client.get(URL, params={"token": forged})
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "video_not_found")
    assert (await play.client.get(URL)).status_code == 404  # no token at all


async def test_playlists_are_gzipped_once_for_clients_that_take_it(play: Play) -> None:
    params = {"token": token(10_000)}
    plain = await play.client.get(URL, params=params, headers={"Accept-Encoding": "identity"})
    zipped = await play.client.get(URL, params=params, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert zipped.content == plain.content  # httpx has decoded it: the same playlist
    head = await play.client.head(URL, params=params, headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == zipped.headers["content-length"]
    assert plain.headers["cache-control"] == "private, max-age=10"


async def test_cors_and_the_request_id_as_the_app_gives_them(play: Play) -> None:
    params = {"token": token(10_000)}
    answer = await play.client.get(
        URL, params=params, headers={"Origin": "https://site.test", "X-Request-ID": "trace-1"}
    )
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.headers["x-request-id"] == "trace-1"
    ids = {(await play.client.get(URL, params=params)).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    odd = await play.client.get(URL, params=params, headers={"X-Request-ID": "bad id\x7f"})
    assert odd.headers["x-request-id"] not in ("bad id\x7f", "")


async def test_bad_requests_get_the_apis_errors_and_other_paths_go_to_the_app(
    play: Play,
) -> None:
    long = await play.client.get(URL, params={"token": "x" * 2049})
    assert long.status_code == 422
    assert long.json()["error"]["code"] == "invalid_request"
    traversal = await play.client.get("/v1/videos/v1/hls/e1/../secret.key", params={})
    assert traversal.status_code == 404
    gone = await play.client.get("/v1/videos/v1/hls/e2/720p/index.m3u8")
    assert gone.status_code in (403, 404)
    routed = await play.client.get("/v1/videos/v1")  # not a ladder file: FastAPI's 404
    assert routed.status_code == 404
    assert routed.json() == {"detail": "Not Found"}


async def test_every_request_is_counted_and_successes_are_sampled_in_the_log(
    play: Play, caplog: pytest.LogCaptureFixture
) -> None:
    def served(status: str) -> float:
        value = REGISTRY.get_sample_value(
            "vodstack_http_requests_total",
            {"method": "GET", "route": SAMPLED_ROUTE, "status": status},
        )
        return value or 0.0

    ok, refused = served("200"), served("404")
    params = {"token": token(10_000)}
    with caplog.at_level(logging.INFO, logger="vodstack.access"):
        for _ in range(8):
            await play.client.get(URL, params=params)
        await play.client.get(URL)
    lines = [r for r in caplog.records if r.name == "vodstack.access"]
    statuses = [cast(tuple[Any, ...], r.args)[4] for r in lines]
    assert statuses.count(200) == 2  # a quarter of the successes
    assert statuses.count(404) == 1  # every failure
    assert served("200") - ok == 8
    assert served("404") - refused == 1


def test_accept_encoding_is_read_as_http_says() -> None:
    assert takes_gzip("gzip, deflate, br")
    assert takes_gzip("br;q=1.0, gzip;q=0.8")
    assert takes_gzip("*")
    assert not takes_gzip("gzip;q=0")
    assert not takes_gzip("identity")
    assert not takes_gzip(None)


def test_request_ids_are_unique_and_sane() -> None:
    one, two = RequestIds(), RequestIds()
    made = [one.next() for _ in range(1000)] + [two.next() for _ in range(1000)]
    assert len(set(made)) == 2000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in made)
