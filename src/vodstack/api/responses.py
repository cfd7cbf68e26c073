"""How a file the services found goes out: its bytes (gzipped for clients that take it, from
the copy made once), the file itself (answering Range requests), a redirect to where storage
serves it, or a handoff to the front proxy that sends it."""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, RedirectResponse, Response

from vodstack.domain.videos import attachment
from vodstack.services.playback import HlsFile

# Below this a gzip header and trailer cost more than they save.
GZIP_FROM = 256


def file_response(found: HlsFile, request_headers: Headers | None = None) -> Response:
    headers = {"Cache-Control": found.cache_control}
    if found.filename is not None:
        headers["Content-Disposition"] = attachment(found.filename)
    if found.accel_redirect is not None:
        # nginx sends the file (with sendfile, and Range) from its internal location.
        headers["X-Accel-Redirect"] = found.accel_redirect
        return Response(b"", media_type=found.content_type, headers=headers)
    if isinstance(found.source, Path):
        return FileResponse(found.source, media_type=found.content_type, headers=headers)
    if isinstance(found.source, str):
        return RedirectResponse(found.source, status_code=302, headers=headers)
    accept = None if request_headers is None else request_headers.get("accept-encoding")
    body, encoding = encoded(found, accept)
    headers.update(encoding)
    return Response(body, media_type=found.content_type, headers=headers)


def encoded(found: HlsFile, accept: str | None) -> tuple[bytes, dict[str, str]]:
    """The bytes to send for ``found`` (gzipped when the client takes it and it pays), and
    the headers that say so."""
    assert isinstance(found.source, bytes)
    if found.gzipped is None:
        return found.source, {}
    if len(found.source) >= GZIP_FROM and takes_gzip(accept):
        return found.gzipped, {"Vary": "Accept-Encoding", "Content-Encoding": "gzip"}
    return found.source, {"Vary": "Accept-Encoding"}


def takes_gzip(accept: str | None) -> bool:
    """Whether an Accept-Encoding takes gzip (``*`` does; ``q=0`` refuses it)."""
    if not accept:
        return False
    for coding in accept.split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
