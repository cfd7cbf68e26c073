"""The web app's pages and static files over HTTP (in process): what is served, with which
headers, and what happens without hls.js. The pages themselves run in tests/browser/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from vodstack.api import create_app
from vodstack.api.routes import pages
from vodstack.settings import Settings


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", _env_file=None)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/", "library.js"),
        ("/upload", "upload.js"),
        ("/videos/" + "ab12" * 8, "player.js"),
    ],
)
async def test_pages_are_served_with_their_module_and_security_headers(
    web: httpx.AsyncClient, path: str, script: str
) -> None:
    response = await web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f'src="/static/{script}"' in response.text
    assert "<script>" not in response.text  # no inline script: the CSP forbids them
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "media-src 'self' blob: data:" in csp
    assert "worker-src 'self' blob:" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.css", "text/css; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files(web: httpx.AsyncClient, name: str, content_type: str) -> None:
    response = await web.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/index.html", "/static/..%2Fapi%2F__init__.py"]
)
async def test_only_the_web_files_are_static(web: httpx.AsyncClient, path: str) -> None:
    response = await web.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_hls_js_missing_says_to_run_make(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "find_hls_js", lambda: None)
    response = await web.get("/static/vendor/hls.min.js")
    assert response.status_code == 404
    assert "run `make`" in response.json()["error"]["message"]


def test_hls_js_is_found_above_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    package_web = tmp_path / "src" / "vodstack" / "web"
    package_web.mkdir(parents=True)
    assert pages.find_hls_js(package_web) is None
    planted = tmp_path / pages.HLS_JS
    planted.parent.mkdir(parents=True)
    planted.write_text("/* hls.js */")
    assert pages.find_hls_js(package_web) == planted
    # A built package carries its own, which comes first.
    vendored = package_web / "vendor" / "hls.min.js"
    vendored.parent.mkdir()
    vendored.write_text("/* hls.js, vendored */")
    assert pages.find_hls_js(package_web) == vendored


async def test_the_player_shows_a_videos_warnings_as_text(web: httpx.AsyncClient) -> None:
    page = (await web.get("/videos/" + "ab12" * 8)).text
    assert '<section id="warnings" class="video-warnings" role="status" hidden>' in page
    script = (await web.get("/static/player.js")).text
    assert "info.warnings" in script
    assert "item.textContent = warning" in script
    assert "innerHTML" not in script  # a warning holds a file's own words
    assert ".video-warnings" in (await web.get("/static/app.css")).text


async def test_the_embed_page_may_be_framed_by_the_sites_the_setting_names(tmp_path: Path) -> None:
    sites = "https://blog.example.com https://*.example.org"
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        embed_frame_ancestors=sites,
        _env_file=None,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            embed = await web.get("/embed/" + "ab12" * 8)
            player = await web.get("/videos/" + "ab12" * 8)
    assert embed.status_code == 200
    assert 'src="/static/embed.js"' in embed.text
    assert "<script>" not in embed.text
    assert f"frame-ancestors {sites}" in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    # Every other page stays unframeable.
    assert "frame-ancestors 'none'" in player.headers["content-security-policy"]
    assert player.headers["x-frame-options"] == "DENY"


async def test_the_embed_page_may_be_framed_anywhere_by_default(web: httpx.AsyncClient) -> None:
    embed = await web.get("/embed/" + "ab12" * 8)
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert (await web.get("/embed/not-an-id")).status_code == 404


@pytest.mark.parametrize(
    "sites",
    ["'self'", "https://a.example; script-src *", "https://a.example,https://b.example", ""],
)
def test_a_frame_ancestors_setting_that_is_not_a_list_of_sites_is_refused(
    tmp_path: Path, sites: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path, embed_frame_ancestors=sites, _env_file=None)
    assert "embed_frame_ancestors" in str(refused.value)
    assert "separated by spaces" in str(refused.value)


async def test_thumbnails_and_storyboards_may_come_from_where_media_does(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url="http://testserver",
        cdn_url="https://cdn.example.net/media",
        _env_file=None,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            csp = (await web.get("/")).headers["content-security-policy"]
    assert "img-src 'self' http://testserver https://cdn.example.net;" in csp


@pytest.mark.parametrize("path", ["/", "/upload", "/videos/" + "ab12" * 8, "/embed/" + "ab12" * 8])
async def test_every_control_has_a_label_and_no_page_has_inline_styles(
    web: httpx.AsyncClient, path: str
) -> None:
    page = (await web.get(path)).text
    labelled = set(re.findall(r'<label[^>]* for="([^"]+)"', page))
    for tag, attributes in re.findall(r"<(input|select|textarea)\b([^>]*)>", page):
        found = re.search(r'\bid="([^"]+)"', attributes)
        assert found, f"a <{tag}> without an id cannot be labelled: {attributes}"
        assert found.group(1) in labelled or "aria-label=" in attributes, found.group(1)
    assert " style=" not in page  # the CSP allows no inline styles
    assert "<style" not in page
