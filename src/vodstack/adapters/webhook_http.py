"""Webhook requests over httpx, to checked addresses only.

The name is resolved here, every address it resolves to is checked, and the request goes
to the checked IP itself, with the name in the Host header and TLS's SNI (and certificate
check). A name cannot resolve to a public address when checked and a private one when
connected to: there is no second lookup.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from urllib.parse import urlsplit, urlunsplit

import httpx

from vodstack.domain.webhooks import EXCERPT_CHARS, address_problem, url_problem
from vodstack.ports import SendResult


class HttpWebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float,
        verify: ssl.SSLContext | bool = True,  # a test's own certificate authority
    ) -> None:
        self._allow_private = allow_private
        self._verify = verify
        # Redirects are not followed: a receiver's 3xx is its answer, and a redirect could
        # lead to an address nobody checked.
        self._timeout = timeout_seconds
        self._client: httpx.AsyncClient | None = None  # made on the first send

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                trust_env=False,
                verify=self._verify,
            )
        return self._client

    async def addresses_problem(self, url: str) -> str | None:
        problem = url_problem(url)
        if problem is not None:
            return problem
        try:
            await self._checked_addresses(url)
        except _Refused as exc:
            return str(exc)
        return None

    async def send(self, url: str, headers: dict[str, str], body: str) -> SendResult:
        """One attempt, the lookup included, within the timeout as a whole: httpx's own
        timeouts are per step, which a receiver answering a byte at a time would outlast."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(url, headers, body)
        except TimeoutError:
            return SendResult(None, f"timed out after {self._timeout:g} s")

    async def _send(self, url: str, headers: dict[str, str], body: str) -> SendResult:
        try:
            targets, host_header, sni = await self._checked_addresses(url)
        except _Refused as exc:
            return SendResult(None, str(exc))
        extensions = {} if sni is None else {"sni_hostname": sni}
        failure = SendResult(None, "no address to connect to")
        # Each checked address in turn, as a client would (an IPv6 one that does not
        # answer, then the IPv4 one); once connected, the answer is the answer.
        for target in targets:
            try:
                async with self._http().stream(
                    "POST",
                    target,
                    content=body.encode(),
                    headers=headers | {"host": host_header, "user-agent": "vodstack-webhooks"},
                    extensions=extensions,
                ) as response:
                    excerpt = await _excerpt(response)
                    return SendResult(response.status_code, None, excerpt)
            except httpx.ConnectError as exc:
                failure = SendResult(None, f"ConnectError: {exc}"[:EXCERPT_CHARS])
            except httpx.HTTPError as exc:
                return SendResult(None, f"{type(exc).__name__}: {exc}"[:EXCERPT_CHARS])
        return failure

    async def _checked_addresses(self, url: str) -> tuple[list[str], str, str | None]:
        """The URL with its host replaced by each checked address, the Host header, and
        the name for SNI (https only)."""
        problem = url_problem(url)
        if problem is not None:
            raise _Refused(problem)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await _resolve(host, port)
        if not self._allow_private:
            for address in addresses:
                problem = address_problem(address)
                if problem is not None:
                    raise _Refused(f"{host} resolves to {problem}; webhooks need a public one")
        targets = []
        for address in addresses:
            ip = address.split("%", 1)[0]
            netloc = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            targets.append(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")))
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return targets, host_header, host if parts.scheme == "https" else None


class _Refused(Exception):
    """The URL may not be reached."""


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _Refused(f"{host} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise _Refused(f"{host} does not resolve")
    return addresses


async def _excerpt(response: httpx.Response) -> str:
    """The start of the answer only: a receiver's body is not ours to keep."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= EXCERPT_CHARS:
            break
    return kept[:EXCERPT_CHARS].decode(errors="replace")
