"""Every request gets an id, carried by every line logged while it is answered and sent back
in ``X-Request-ID``, is counted and timed by its route template, and is written to the access
log (playback files sampled, when asked)."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vodstack import metrics
from vodstack.logs import bind, unbind

REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept when it could not garble a log line or a header: a load balancer's
# or a client's trace id, a UUID. Anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=/+-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route whose requests are sampled: a viewer asks for a playlist or a segment every few
# seconds, so its lines would be most of the log and most of the cost of writing it.
SAMPLED_ROUTE = "/v1/videos/{video_id}/hls/e{epoch}/{path:path}"
# In uvicorn's form (the same arguments), under vodstack's name; uvicorn's own
# "uvicorn.access" is off in every process (vodstack.logs.silence_uvicorn_access).
ACCESS_LOGGER = "vodstack.access"
_access_log = logging.getLogger(ACCESS_LOGGER)


class AccessLog:
    """Writes one line per request once it is answered, as uvicorn would. Of the successful
    requests for playback files, only every ``1/sample``-th is written; the others are
    counted in the metrics all the same."""

    def __init__(self, sample: float = 1.0) -> None:
        self._every = 0 if sample <= 0 else max(1, round(1 / sample))
        self._seen = itertools.count()

    def write(self, scope: Scope, route: str, status: int) -> None:
        sampled = status < 400 and route == SAMPLED_ROUTE
        if sampled and (self._every == 0 or next(self._seen) % self._every):
            return
        if not _access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        _access_log.info(
            '%s - "%s %s HTTP/%s" %d',
            f"{client[0]}:{client[1]}" if client else "-",
            scope["method"],
            scope.get("raw_path", scope["path"].encode()).decode("latin-1")
            + (f"?{query}" if query else ""),
            scope.get("http_version", "1.1"),
            status,
        )


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is sane, else a new one."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIds:
    """New request ids, unique across processes and hosts as uuid4's are (a random
    96-bit prefix per process) but made by counting: a uuid4 per request costs more than
    the rest of a cached playlist's answer."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(12)
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFF:08x}"


class RequestObserver:
    """Pure ASGI rather than BaseHTTPMiddleware: it only adds a header and reads the status
    on the way out, and must not buffer a response or move the app to another task."""

    def __init__(self, app: ASGIApp, access: AccessLog | None = None) -> None:
        self.app = app
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_header(scope, REQUEST_ID_HEADER))
        status = 500  # unless a response starts: an exception escaped every handler
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        token = bind(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # Left bound: the handler of unhandled errors and the server log this failure
            # after we return, in this same task.
            self._observe(scope, status, time.perf_counter() - started)
            raise
        self._observe(scope, status, time.perf_counter() - started)
        unbind(token)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        # The template ("/v1/videos/{video_id}"), never the path: one series per route.
        route = getattr(scope.get("route"), "path", None) or metrics.UNMATCHED_ROUTE
        metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
        metrics.HTTP_DURATION.labels(method=method, route=route).observe(seconds)
        if self._access is not None:
            self._access.write(scope, route, status)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
