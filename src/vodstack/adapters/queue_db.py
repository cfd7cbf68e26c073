"""The database as the queue: workers claim straight from the jobs table. These wakeups
only shorten an idle worker's wait between claims.

- ``LocalWakeup``: an in-process signal, so the all-in-one server's own worker starts a job
  the moment its upload completes; other processes fall back to polling.
- ``PostgresWakeup``: PostgreSQL's LISTEN/NOTIFY, so every idle worker on every host hears
  about a new job within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "vodstack_jobs"
_RECONNECT_SECONDS = 1.0


class LocalWakeup:
    def __init__(self) -> None:
        self._rung = asyncio.Condition()

    async def send(self, video_id: str) -> None:
        await self._ring()

    async def wait(self, seconds: float) -> None:
        async with self._rung:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rung.wait(), seconds)

    async def close(self) -> None:
        return None

    async def _ring(self) -> None:
        async with self._rung:
            self._rung.notify_all()


class PostgresWakeup(LocalWakeup):
    def __init__(self, engine: AsyncEngine, database_url: str) -> None:
        super().__init__()
        self._engine = engine
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._listener: asyncio.Task[None] | None = None

    async def send(self, video_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :video)"),
                {
                    "channel": CHANNEL,
                    "video": video_id,
                },
            )
        await self._ring()

    async def wait(self, seconds: float) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="listen for jobs")
        await super().wait(seconds)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def _listen(self) -> None:
        """Hold one connection that listens; when PostgreSQL goes away, reconnect. Claims
        carry on by polling meanwhile, so a lost notification only costs a poll interval."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await self._ring()  # jobs may have come while we were not listening
                    async for _ in conn.notifies():
                        await self._ring()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for jobs failed (%s); polling meanwhile", exc)
            await asyncio.sleep(_RECONNECT_SECONDS)
