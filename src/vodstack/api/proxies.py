"""Whom the HTTP server believes about a client's address: VODSTACK_TRUSTED_PROXIES.

uvicorn's proxy-headers middleware wraps the whole served app, the hot path in front of
the routes included, so every part of vodstack that reads a request's client address (the
address a playback token is bound to and checked against, the access log, the rate limits)
reads the one it decides. From a trusted proxy, that is X-Forwarded-For read from the right:
the first address that is not itself a trusted proxy, so that whatever a client wrote into
the header itself, to the left of what the proxies added, is never taken. From anyone else
the header is ignored. With no trusted proxy the middleware is off: uvicorn's own default
would believe X-Forwarded-For from 127.0.0.1, which any local process can send."""

from __future__ import annotations

from typing import TypedDict

from vodstack.settings import Settings


class ProxyOptions(TypedDict):
    proxy_headers: bool
    forwarded_allow_ips: str | None


def proxy_options(settings: Settings) -> ProxyOptions:
    """uvicorn's options for ``settings.trusted_proxies``, for every process that serves."""
    trusted = settings.trusted_proxies
    return ProxyOptions(proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)
