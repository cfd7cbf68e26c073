"""The request every viewer makes every few seconds, a ladder file (playlist or segment),
answered before FastAPI's routing, parameter validation and dependency injection: those
cost more than the answer itself, which the playback service mostly has in memory. It sits
inside the CORS middleware and the request observer, so it is counted, timed, logged and
answered to other origins exactly as a routed request is."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from vodstack import errors
from vodstack.api.errors import error_response
from vodstack.api.middleware import SAMPLED_ROUTE
from vodstack.api.responses import file_response
from vodstack.services.playback import LADDER_FILE

_TOKEN_LIMIT = 2048  # as the routed endpoint's query parameter allows


@dataclass(frozen=True)
class _Template:
    """What the request observer reads from ``scope["route"]``: the route's template."""

    path: str


LADDER_FILE_ROUTE = _Template(SAMPLED_ROUTE)


class LadderFiles:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = LADDER_FILE.match(scope["path"]) if scope["type"] == "http" else None
        services = getattr(scope["app"].state, "services", None) if found else None
        if found is None or services is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        scope["route"] = LADDER_FILE_ROUTE
        video_id, epoch, path = found[1], int(found[2]), found[3]  # the path is unquoted
        token = _token(scope["query_string"])
        client = scope.get("client")
        if token is not None and len(token) > _TOKEN_LIMIT:
            message = f"query.token: at most {_TOKEN_LIMIT} characters"
            await error_response(422, errors.InvalidRequest.code, message)(scope, receive, send)
            return
        try:
            ladder_file = await services.playback.hls_file(
                video_id, epoch, path, token, client[0] if client else None
            )
        except errors.VodstackError as exc:
            await error_response(exc.status, exc.code, exc.message)(scope, receive, send)
            return
        await file_response(ladder_file, Headers(scope=scope))(scope, receive, send)


def _token(query: bytes) -> str | None:
    if b"token=" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1")):
        if name == "token":
            return value
    return None
