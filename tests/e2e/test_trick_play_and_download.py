"""A real video through the API with ``VODSTACK_MP4_RENDITION`` on: uploaded, encoded by
the worker, then played as a viewer plays it. The I-frame playlists the API serves (their
URIs carrying the token of a private video) keep the authoring rules, and their byte
ranges, fetched as players fetch them, decode to key frames; the MP4 downloaded through
the API plays, with picture and sound, for as long as the video lasts."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import av
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import SYSTEM
from tests.integration.test_iframes import iframe_entries, make_clip
from tests.support.hls import attributes, iframe_playlist_problems
from tests.support.uploads import upload_in_one_part
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.api import create_app
from vodstack.runtime import build_worker, open_backends
from vodstack.services.playback import attachment_name
from vodstack.settings import Settings


@dataclass
class Site:
    app: FastAPI
    settings: Settings
    owner: httpx.AsyncClient  # with the owner's key

    def viewer(self) -> httpx.AsyncClient:
        """A client without a key, as a player is."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        encoder="libx264",
        mp4_rendition=True,
        webhook_delivery=False,
        _env_file=None,
    )
    app = create_app(settings)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        _, key = await app.state.services.accounts.create_user("owner-1", False, SYSTEM)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        )
        yield Site(app, settings, await stack.enter_async_context(client))


async def _encode_all(settings: Settings, transcoder: FakeTranscoder | None = None) -> None:
    async with open_backends(settings) as backends:
        await build_worker(backends, transcoder=transcoder, once=True).run()


async def test_a_private_video_scrubs_and_downloads_through_the_api(
    site: Site, tmp_path: Path
) -> None:
    client, settings = site.owner, site.settings
    clip = make_clip(tmp_path / "clip.mp4", 8)
    video_id = await upload_in_one_part(
        client, clip.read_bytes(), visibility="private", title="Trick: play/ÿ test"
    )
    await _encode_all(settings)
    video = (await client.get(f"/v1/videos/{video_id}")).json()
    assert video["status"] == "ready", video
    token = (await client.post(f"/v1/videos/{video_id}/playback-tokens", json={})).json()

    async with site.viewer() as viewer:
        await _check_trick_play(viewer, token["master_url"], token["token"])
        refused = await viewer.get(f"/v1/videos/{video_id}/download.mp4")
        assert refused.status_code == 404
        download = await viewer.get(
            f"/v1/videos/{video_id}/download.mp4", params={"token": token["token"]}
        )
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "video/mp4"
    assert download.headers["content-disposition"].startswith(
        'attachment; filename="Trick_ play_ test.mp4";'
    )
    with av.open(io.BytesIO(download.content), mode="r") as container:
        assert len(container.streams.video) == len(container.streams.audio) == 1
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(video["duration"], abs=0.1)
        assert sum(1 for _ in container.decode(video=0)) == 8 * 30
    owners = await client.get(f"/v1/videos/{video_id}/download.mp4")
    assert owners.content == download.content


async def _check_trick_play(viewer: httpx.AsyncClient, master_url: str, token: str) -> None:
    master = await viewer.get(master_url)
    assert master.status_code == 200
    lines = master.text.splitlines()
    uris = [attributes(line)["URI"] for line in lines if "I-FRAME-STREAM-INF" in line]
    assert len(uris) == 2
    texts = {}
    for uri in uris:
        assert uri.endswith(f"?token={token}")
        served = await viewer.get(urljoin(master_url, uri))
        assert served.status_code == 200
        texts[uri] = served.text
    assert iframe_playlist_problems(master.text, texts) == []
    playlist_url = urljoin(master_url, uris[0])
    text = texts[uris[0]]
    init_url = urljoin(playlist_url, text.split('URI="', 1)[1].split('"', 1)[0])
    init = (await viewer.get(init_url)).content
    for uri, offset, length in iframe_entries(text):
        ranged = await viewer.get(
            urljoin(playlist_url, uri), headers={"Range": f"bytes={offset}-{offset + length - 1}"}
        )
        assert ranged.status_code == 206
        with av.open(io.BytesIO(init + ranged.content), mode="r") as container:
            assert [frame.key_frame for frame in container.decode(video=0)] == [True]


async def test_without_an_mp4_the_download_says_why(site: Site) -> None:
    client, settings = site.owner, site.settings
    video_id = await upload_in_one_part(client, b"a tiny video")
    await _encode_all(settings, FakeTranscoder())  # it writes no MP4, as the setting off
    refused = await client.get(f"/v1/videos/{video_id}/download.mp4")
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == (
        "this video has no MP4 download: the server has VODSTACK_MP4_RENDITION off"
    )


@pytest.mark.parametrize(
    ("title", "filename", "saved"),
    [
        ("Holiday 2026", "x.mov", "Holiday 2026.mp4"),
        ("", "../../etc/passwd.mov", "passwd.mp4"),
        ("", "C:\\clips\\beach.mov", "beach.mp4"),
        ('a"b;c\r\nSet-Cookie: x', "x.mov", "a_b_c_Set-Cookie_ x.mp4"),
        ("...", "x.mov", "video.mp4"),
        ("x" * 300, "x.mov", "x" * 100 + ".mp4"),
    ],
)
def test_the_saved_name_is_safe(title: str, filename: str, saved: str) -> None:
    assert attachment_name(title, filename) == saved
