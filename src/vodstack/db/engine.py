"""Engines for the database URL a user gives, with the project's choice of async driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+aiosqlite"}


def async_url(url: str) -> str:
    """``postgresql://user@host/db`` and ``sqlite:///file.db`` work as users write them."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {url!r}: use postgresql:// or sqlite:///")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[backend])
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    full = async_url(url)
    if full.startswith("sqlite"):
        engine = create_async_engine(full, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(full, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def check_database(url: str) -> None:
    """Raise ConfigurationError, naming the problem, unless the database answers."""
    from vodstack import errors

    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            # SQLite creates the file, not its folder (a fresh data dir).
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    except ValueError as exc:
        raise errors.ConfigurationError(f"VODSTACK_DATABASE_URL: {exc}") from None
    try:
        await ping_database(engine)
    finally:
        await engine.dispose()


async def ping_database(engine: AsyncEngine) -> None:
    """Raise ConfigurationError, naming the problem, unless ``engine``'s database answers."""
    from vodstack import errors

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        detail = " ".join(str(cause).split()) or type(cause).__name__
        where = engine.url.render_as_string(hide_password=True)
        raise errors.ConfigurationError(f"database {where} is not usable: {detail}") from None
