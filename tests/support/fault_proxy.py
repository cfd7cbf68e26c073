"""A TCP proxy in front of a real endpoint that can be told to fail: answer every HTTP
request with 503, or accept connections and never answer (a timeout). Switching the mode
drops the connections in flight, so pooled keep-alive connections see the fault too."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from tests.support.processes import free_port

Mode = Literal["pass", "503", "hang"]
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 19\r\nConnection: close\r\n\r\nservice unavailable"
)


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self.mode: Mode = "pass"
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.refused = 0  # requests answered 503
        self.held = 0  # connections left without an answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def set_mode(self, mode: Mode) -> None:
        def switch() -> None:
            self.mode = mode
            for writer in list(self._writers):
                writer.close()

        self._loop.call_soon_threadsafe(switch)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.mode == "hang":
                self.held += 1
                await reader.read()  # until the client gives up or the mode changes
                return
            if self.mode == "503":
                with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                    await reader.readuntil(b"\r\n\r\n")
                    self.refused += 1
                    writer.write(_UNAVAILABLE)
                    await writer.drain()
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            self._writers.add(upstream_writer)
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.close()
        finally:
            self._writers.discard(writer)
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextmanager
def fault_proxy(target_url: str) -> Iterator[FaultProxy]:
    host, _, port = target_url.split("://", 1)[1].partition(":")
    proxy = FaultProxy(host, int(port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
