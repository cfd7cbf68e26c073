"""The request every viewer makes every few seconds, a ladder file (playlist or segment),
answered in front of the FastAPI app: its middleware stack, routing, parameter validation
and dependency injection cost several times the answer itself, which the playback service
mostly has in memory. Everything else goes to the app.

What the app's middleware does for every request is done here too, by the same pieces: the
request id (bound for log lines, sent back), the HTTP metrics by route template, the access
log (sampled), the CORS headers of a simple request, and errors as the API's JSON."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vodstack import errors, metrics
from vodstack.api.errors import error_response
from vodstack.api.middleware import (
    REQUEST_ID_HEADER,
    SAMPLED_ROUTE,
    AccessLog,
    RequestIds,
    request_id_from,
)
from vodstack.api.responses import encoded, file_response
from vodstack.domain.signing import TOKEN_CHARS
from vodstack.logs import bind, unbind
from vodstack.services.playback import LADDER_FILE, HlsFile, PlaybackService
from vodstack.settings import Settings

log = logging.getLogger(__name__)

_WANTED = (b"x-request-id", b"origin", b"accept-encoding")


class _Template:
    """What the request observer reads from ``scope["route"]``: the route's template."""

    path = SAMPLED_ROUTE


class HotPath:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self._access = AccessLog(settings.access_log_sample)
        self._ids = RequestIds()
        self._any_origin = "*" in settings.cors_origins
        self._origins = frozenset(settings.cors_origins)
        self._counters: dict[tuple[str, int], metrics.Counted] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = LADDER_FILE.match(scope["path"]) if scope["type"] == "http" else None
        services = getattr(self.app.state, "services", None) if found else None
        if found is None or services is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope["headers"])
        given = headers.get(b"x-request-id")
        request_id = self._ids.next() if given is None else request_id_from(given)
        extra = [(REQUEST_ID_HEADER, request_id.encode()), *self._cors(headers.get(b"origin"))]
        bound = bind(request_id=request_id)
        status = 500
        try:
            status = await self._answer(
                scope, receive, send, found, services.playback, headers, extra
            )
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            message = "internal error; the server log has details"
            await _with(error_response(500, "internal_error", message), extra)(scope, receive, send)
        finally:
            scope["route"] = _Template
            self._count(scope["method"], status, time.perf_counter() - started)
            self._access.write(scope, SAMPLED_ROUTE, status)
            unbind(bound)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        found: re.Match[str],
        playback: PlaybackService,
        headers: dict[bytes, str],
        extra: list[tuple[bytes, bytes]],
    ) -> int:
        token = _token(scope["query_string"])
        client = scope.get("client")
        try:
            ladder_file = await playback.hls_file(
                found[1], int(found[2]), found[3], _bounded(token), client[0] if client else None
            )
        except _TooLong as exc:  # as the routed endpoint's validation answers
            response: Response = error_response(422, errors.InvalidRequest.code, str(exc))
        except errors.VodstackError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        else:
            if isinstance(ladder_file.source, bytes):
                return await _send_bytes(send, scope, ladder_file, headers, extra)
            response = file_response(ladder_file, Headers(scope=scope))
        await _with(response, extra)(scope, receive, send)
        return response.status_code

    def _cors(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        """The headers CORSMiddleware gives a simple request from ``origin``."""
        if origin is None:
            return []
        if self._any_origin:
            return [(b"access-control-allow-origin", b"*"), _EXPOSED]
        if origin in self._origins:
            allowed = (b"access-control-allow-origin", origin.encode())
            return [allowed, _EXPOSED, (b"vary", b"Origin")]
        return []

    def _count(self, method: str, status: int, seconds: float) -> None:
        counted = self._counters.get((method, status))
        if counted is None:
            counted = metrics.counted(method, SAMPLED_ROUTE, status)
            self._counters[(method, status)] = counted
        counted.requests.inc()
        counted.duration.observe(seconds)


_EXPOSED = (
    b"access-control-expose-headers",
    b"ETag, Content-Length, Content-Range, Accept-Ranges, X-Request-ID",
)


async def _send_bytes(
    send: Send,
    scope: Scope,
    found: HlsFile,
    headers: dict[bytes, str],
    extra: list[tuple[bytes, bytes]],
) -> int:
    body, encoding = encoded(found, headers.get(b"accept-encoding"))
    out = [
        (b"content-type", found.content_type.encode()),
        (b"cache-control", found.cache_control.encode()),
        *extra,
        *((name.lower().encode(), value.encode()) for name, value in encoding.items()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": out})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
    return 200


def _with(response: ASGIApp, extra: list[tuple[bytes, bytes]]) -> ASGIApp:
    """``response`` with ``extra`` headers added to its start."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await response(scope, receive, sending)

    return app


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    return {k: v.decode("latin-1") for k, v in raw if k in _WANTED}


class _TooLong(ValueError):
    pass


def _bounded(token: str | None) -> str | None:
    if token is not None and len(token) > TOKEN_CHARS:
        raise _TooLong(f"query.token: at most {TOKEN_CHARS} characters")
    return token


def _token(query: bytes) -> str | None:
    if b"token=" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1")):
        if name == "token":
            return value
    return None
