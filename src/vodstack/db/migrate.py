"""Apply the Alembic migrations: at start-up, and by ``vodstack migrate``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.db.engine import create_engine
from vodstack.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: it only has to be the same in every vodstack process.
_PG_MIGRATION_LOCK = 7_402_113


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to the newest schema. Safe when several processes start at once: on
    PostgreSQL they queue on an advisory lock; SQLite serialises writers itself."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The engine for ``settings``, with the schema brought up to date; disposed on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
