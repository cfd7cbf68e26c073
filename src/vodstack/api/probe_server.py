"""A worker's probe port: /metrics, /healthz and /readyz, served in the worker's own event
loop, beside its jobs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI

from vodstack import __version__, errors
from vodstack.api.middleware import RequestObserver
from vodstack.api.routes import health
from vodstack.services.probes import Probes


def create_probe_app(probes: Probes) -> FastAPI:
    app = FastAPI(title="vodstack worker", version=__version__, openapi_url=None)
    app.state.probes = probes
    app.include_router(health.router)
    app.add_middleware(RequestObserver)
    return app


class _ProbeServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # SIGTERM belongs to the worker, which stops gracefully; uvicorn would take it over.
        yield


@contextlib.asynccontextmanager
async def serving_probes(probes: Probes, host: str, port: int) -> AsyncIterator[None]:
    """Serve the probes while the block runs. Raises ConfigurationError when the port
    cannot be bound."""
    listening = _listen(host, port)
    config = uvicorn.Config(
        create_probe_app(probes),
        host=host,
        port=port,
        log_config=None,  # the process's logging is set up already
        log_level=None,
        access_log=False,  # a scrape every few seconds says nothing worth a line
        lifespan="off",
    )
    server = _ProbeServer(config)
    serving = asyncio.create_task(server.serve([listening]), name="probe server")
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)
        listening.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bound here rather than by uvicorn, which would exit the process on failure."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise errors.ConfigurationError(
            f"cannot serve the metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None
