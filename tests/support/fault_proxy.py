"""An HTTP/1.1 proxy in front of a real endpoint (moto's S3 or SQS) that fails on request.

It reads each client connection one request at a time, since botocore pools keep-alive
connections and one connection carries many requests (S3 and MinIO keep them open; moto's
server closes each after its answer), and decides for each request whether to forward it,
answer it with a 503, or hold it and never answer. So a fault can be armed for specific
requests (``fail_next``: the next n whose request-target contains a text) and lands at a
named step of a job, whatever the timing; a fault switched on for a window of wall-clock
time lands wherever the job happens to be, which is a flaky test. The global mode
(``set_mode``) applies to every request, for a backend that is away as a whole.

Responses are relayed as raw bytes, never parsed: an HTTP/1.1 client sends its next request
on a connection only once it has read the previous answer, so the relay is idle whenever a
request is decided, and an interim ``100 Continue`` reaches the client while its request
is still being forwarded. Request bodies are framed (Content-Length or chunked), so that
the next request's head is read where it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from tests.support.processes import free_port

Mode = Literal["pass", "503", "hang"]
Fault = Literal["503", "hang"]
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 19\r\nConnection: close\r\n\r\nservice unavailable"
)
_CHUNK = 65536
# A connection ends on any of these: the client or the endpoint went away, or sent
# something that is not HTTP/1.1 framing.
_ENDED = (
    ConnectionError,
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


@dataclass
class Armed:
    """A fault armed for the next ``remaining`` requests whose target contains ``match``."""

    match: str
    mode: Fault
    remaining: int


@dataclass(frozen=True)
class Seen:
    """One request, and what the proxy did with it: forwarded, refused or held."""

    method: str
    target: str
    outcome: str


@dataclass(frozen=True)
class _Head:
    raw: bytes
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; a repeated header's values joined by commas


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self.mode: Mode = "pass"
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()  # the armed faults and the journal, shared with tests
        self._armed: list[Armed] = []
        self._seen: list[Seen] = []
        # Held connections, and whether the global mode holds them (a switch releases those).
        self._holding: dict[asyncio.StreamWriter, bool] = {}
        self.connections = 0  # client connections accepted
        self.refused = 0  # requests answered 503
        self.held = 0  # requests left without an answer
        self.abandoned = 0  # held requests whose client gave up and closed the connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def set_mode(self, mode: Mode) -> None:
        """Every request from now on is forwarded, refused or held. Requests already
        forwarded get their answer; those held by the previous mode are dropped."""
        with self._lock:
            self.mode = mode

        def release() -> None:
            for writer, by_mode in list(self._holding.items()):
                if by_mode:
                    del self._holding[writer]
                    writer.close()

        self._loop.call_soon_threadsafe(release)

    def fail_next(self, match: str, times: int = 1, mode: Fault = "503") -> Armed:
        """The next ``times`` requests whose request-target contains ``match`` get a 503
        (and the connection is closed), or, with ``mode="hang"``, are held unanswered until
        their client gives up. Armed faults take precedence over the global mode."""
        armed = Armed(match, mode, times)
        with self._lock:
            self._armed.append(armed)
        return armed

    def seen(self, match: str) -> list[Seen]:
        """The requests so far whose target contains ``match``, in the order they came."""
        with self._lock:
            return [s for s in self._seen if match in s.target]

    def stop(self) -> None:
        # Connections still open (a client's pool) are ended here, not left pending for
        # the garbage collector to complain about.
        async def shut_down() -> None:
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut_down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())

    def _decide(self, head: _Head) -> tuple[Fault | None, bool]:
        """The fault this request gets, if any, and whether it is the global mode's."""
        with self._lock:
            fault: Fault | None = None if self.mode == "pass" else self.mode
            armed = next((a for a in self._armed if a.match in head.target), None)
            if armed is not None:
                fault = armed.mode
                armed.remaining -= 1
                if not armed.remaining:
                    self._armed.remove(armed)
            outcome = {None: "forwarded", "503": "refused", "hang": "held"}[fault]
            self._seen.append(Seen(head.method, head.target, outcome))
        return fault, armed is None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream: _Upstream | None = None
        try:
            while (head := await _read_head(reader)) is not None:
                fault, by_mode = self._decide(head)
                if fault == "503":
                    await self._refuse(head, reader, writer)
                    return
                if fault == "hang":
                    if upstream is not None:
                        await upstream.close()  # before its end could close the client's
                    await self._hold(reader, writer, by_mode)
                    return
                if upstream is None:
                    upstream = await _Upstream.open(self._target, writer)
                await _write(upstream.writer, head.raw)
                await _copy_body(head, reader, upstream.writer)
        except _ENDED:
            pass
        finally:
            if upstream is not None:
                await upstream.close()
            writer.close()

    async def _refuse(
        self, head: _Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # A body on its way is read first: closing a socket with unread data resets it,
        # and the client could lose the answer. One that waits for 100 Continue sends none.
        if head.headers.get("expect", "").lower() != "100-continue":
            await _copy_body(head, reader, None)
        self.refused += 1
        writer.write(_UNAVAILABLE)
        await writer.drain()

    async def _hold(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, by_mode: bool
    ) -> None:
        if writer.is_closing():  # the endpoint closed the connection meanwhile
            return
        self.held += 1
        self._holding[writer] = by_mode
        # Whatever the client still sends (a body) is dropped; only its close ends the hold.
        with contextlib.suppress(*_ENDED):
            while await reader.read(_CHUNK):
                pass
        if self._holding.pop(writer, None) is not None:  # not released by a mode switch
            self.abandoned += 1


class _Upstream:
    """The connection to the endpoint behind one client connection, and the relay of its
    answers back to the client."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        self.writer = writer
        self._relay = asyncio.create_task(_relay(reader, client))

    @classmethod
    async def open(cls, target: tuple[str, int], client: asyncio.StreamWriter) -> _Upstream:
        reader, writer = await asyncio.open_connection(*target)
        return cls(reader, writer, client)

    async def close(self) -> None:
        self._relay.cancel()
        await asyncio.gather(self._relay, return_exceptions=True)
        self.writer.close()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The endpoint's bytes to the client until the endpoint closes, which closes the
    client's connection too: a client must not send a request nobody will answer."""
    with contextlib.suppress(*_ENDED):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """The next request's line and headers; None when the client closed between requests."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    line, *fields = raw[:-4].decode("latin-1").split("\r\n")
    method, target, _version = line.split(" ", 2)
    headers: dict[str, str] = {}
    for field in fields:
        name, _, value = field.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return _Head(raw, method, target, headers)


async def _copy_body(
    head: _Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None
) -> None:
    """The request's body to ``writer``, or nowhere when it is None."""
    # Transfer-Encoding wins over Content-Length (RFC 9112 6.3); a request with neither
    # has no body.
    if "chunked" in head.headers.get("transfer-encoding", "").lower():
        await _copy_chunked(reader, writer)
    else:
        await _copy_exactly(reader, writer, int(head.headers.get("content-length", "0")))


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        await _write(writer, size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if not size:
            break
        await _copy_exactly(reader, writer, size + 2)  # the chunk and its CRLF
    while True:  # the trailer fields, up to the empty line that ends the body
        trailer = await reader.readuntil(b"\r\n")
        await _write(writer, trailer)
        if trailer == b"\r\n":
            break


async def _copy_exactly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, count: int
) -> None:
    while count > 0:
        data = await reader.read(min(count, _CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", count)
        await _write(writer, data)
        count -= len(data)


async def _write(writer: asyncio.StreamWriter | None, data: bytes) -> None:
    if writer is not None:
        writer.write(data)
        await writer.drain()


@contextmanager
def fault_proxy(target_url: str) -> Iterator[FaultProxy]:
    host, _, port = target_url.split("://", 1)[1].partition(":")
    proxy = FaultProxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
