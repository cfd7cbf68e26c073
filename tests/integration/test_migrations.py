"""The migrations build exactly the schema in tables.py, on every backend, and are re-runnable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, text

from vodstack.db.accounts import SqlAccountStore
from vodstack.db.engine import create_engine
from vodstack.db.migrate import alembic_config, migrate
from vodstack.db.tables import metadata, users, videos
from vodstack.db.videos import SqlVideoStore
from vodstack.domain.accounts import Scope, full_scopes


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]


async def test_migrations_match_the_tables(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start finds nothing to do
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_a_video_from_before_warnings_reads_with_none(database_url: str) -> None:
    engine = create_engine(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0004"))
            await conn.execute(
                insert(videos).values(
                    id="v" * 32,
                    title="old",
                    filename="old.mp4",
                    size=1,
                    source_key="sources/old/source",
                    status="ready",
                    created_at=now,
                    updated_at=now,
                )
            )
        await migrate(engine)
        video = await SqlVideoStore(engine).get("v" * 32)
        assert video is not None
        assert (video.title, video.warnings) == ("old", ())
    finally:
        await engine.dispose()


async def test_keys_from_before_scopes_keep_their_users_rights(database_url: str) -> None:
    engine = create_engine(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0005"))
            for name, is_admin in (("root", True), ("alice", False)):
                user_id = name[0] * 32
                await conn.execute(
                    insert(users).values(id=user_id, name=name, is_admin=is_admin, created_at=now)
                )
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, user_id, secret_hash, created_at)"
                        " VALUES (:id, :user_id, 'hash', :at)"
                    ),
                    {"id": name[0] * 16, "user_id": user_id, "at": now.replace(tzinfo=None)},
                )
        await migrate(engine)
        accounts = SqlAccountStore(engine)
        for key_id, scopes in (("r" * 16, frozenset(Scope)), ("a" * 16, full_scopes(False))):
            found = await accounts.key(key_id)
            assert found is not None
            assert (found[1].name, found[1].scopes, found[1].revoked_at) == (
                "default",
                scopes,
                None,
            )
    finally:
        await engine.dispose()
