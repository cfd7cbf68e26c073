"""The web app: library, upload, player and embed pages and their static files, straight
from the package (no build step). hls.js is the one third-party script: building the
package puts the version web/package-lock.json pins into ``web/vendor`` (setup.py); a
checkout also finds the one npm installed into ``web/node_modules``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from vodstack import errors
from vodstack.ports import Storage
from vodstack.settings import Settings

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
VENDORED_HLS_JS = WEB_DIR / "vendor" / "hls.min.js"
HLS_JS = Path("web", "node_modules", "hls.js", "dist", "hls.min.js")
HLS_JS_MISSING = "hls.js is not installed: run `make` in the vodstack checkout (it runs npm ci)"

# Flat on purpose: a name that matches can never climb out of WEB_DIR.
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(css|js|svg)$")
_HTML = "text/html; charset=utf-8"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = APIRouter(tags=["pages"], include_in_schema=False)


_VIDEO_ID = re.compile(r"^[0-9a-f]{32}$")


@router.api_route("/", methods=["GET", "HEAD"])
async def library_page(request: Request) -> Response:
    return _page("index.html", request)


@router.api_route("/upload", methods=["GET", "HEAD"])
async def upload_page(request: Request) -> Response:
    return _page("upload.html", request)


@router.api_route("/videos/{video_id}", methods=["GET", "HEAD"])
async def player_page(video_id: str, request: Request) -> Response:
    """The page reads the id from its own path and says if the video does not exist; an id
    that cannot be one gets a 404 at once."""
    if not _VIDEO_ID.match(video_id):
        raise errors.VideoNotFound.named(video_id)
    return _page("player.html", request)


@router.api_route("/embed/{video_id}", methods=["GET", "HEAD"])
async def embed_page(video_id: str, request: Request) -> Response:
    """The bare player that other sites may frame (and only those the setting names): the
    one page without frame-ancestors 'none'."""
    if not _VIDEO_ID.match(video_id):
        raise errors.VideoNotFound.named(video_id)
    headers = {**security_headers(request, framed=True), "Cache-Control": "no-cache"}
    return FileResponse(WEB_DIR / "embed.html", media_type=_HTML, headers=headers)


@router.api_route("/static/vendor/hls.min.js", methods=["GET", "HEAD"])
async def hls_js(request: Request) -> Response:
    found = find_hls_js()
    if found is None:
        raise errors.NotFound(HLS_JS_MISSING)
    return _send(found, _TYPES[".js"], request)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
async def static_file(name: str, request: Request) -> Response:
    path = WEB_DIR / name
    if not _STATIC_NAME.match(name) or not path.is_file():
        raise errors.NotFound(f"no static file {name!r}")
    return _send(path, _TYPES[path.suffix], request)


def find_hls_js(start: Path = WEB_DIR) -> Path | None:
    """The package's own hls.min.js (a wheel, or a checkout whose package was built), else
    the checkout's. Walking up from the package finds it in an editable install wherever
    the server is started from; the working directory covers a regular install started in
    the checkout."""
    vendored = start / VENDORED_HLS_JS.relative_to(WEB_DIR)
    if vendored.is_file():
        return vendored
    cwd = Path.cwd().resolve()
    for folder in (*start.parents, cwd, *cwd.parents):
        candidate = folder / HLS_JS
        if candidate.is_file():
            return candidate
    return None


def security_headers(request: Request, framed: bool = False) -> dict[str, str]:
    """The same for every page of a running server (``framed``: for the embed page), so
    each is built once."""
    built: dict[bool, dict[str, str]] | None = getattr(request.app.state, "security_headers", None)
    if built is None:
        services = request.app.state.services
        built = request.app.state.security_headers = {
            kind: _security_headers(services.settings, services.storage, kind)
            for kind in (False, True)
        }
    return built[framed]


def _security_headers(settings: Settings, storage: Storage, framed: bool) -> dict[str, str]:
    # Part URLs, playlists and segments are absolute URLs on the public URL, on S3 (as
    # clients reach it) or on a CDN, none of which need be the page's own origin.
    stored_at = storage.public_url("sources/x/source", 60) or ""
    s3 = settings.s3_public_endpoint_url or settings.s3_endpoint_url or ""
    origins = [_origin(u) for u in (settings.public_url, stored_at, s3, settings.cdn_url or "")]
    extra = " ".join(dict.fromkeys(o for o in origins if o))
    ancestors = settings.embed_frame_ancestors if framed else "'none'"
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # Thumbnails are API URLs; storyboard sheets sit beside the segments.
            f"img-src 'self' {extra}".strip(),
            f"connect-src 'self' {extra}".strip(),
            # hls.js feeds the video element a MediaSource (blob:) from a worker it builds
            # from a blob: URL, and gives each caption track an empty <track> (data:) that
            # it fills with cues itself.
            f"media-src 'self' blob: data: {extra}".strip(),
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    # X-Frame-Options cannot name sites; frame-ancestors supersedes it wherever it is known.
    return headers if framed else {**headers, "X-Frame-Options": "DENY"}


def _page(name: str, request: Request) -> Response:
    return _send(WEB_DIR / name, _HTML, request)


def _send(path: Path, media_type: str, request: Request) -> Response:
    # no-cache: revalidating (ETag) is cheap, and a page with stale JS after an upgrade
    # is confusing.
    headers = {**security_headers(request), "Cache-Control": "no-cache"}
    return FileResponse(path, media_type=media_type, headers=headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
