"""Shared fixtures: database backends (SQLite and a throwaway PostgreSQL database per run),
settings in a temporary data dir, a running app, and the shared test media."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import text

from tests.support.aws import CREDENTIALS, Moto, moto_server
from tests.support.stack import POSTGRES_URL
from tests.support.stack import postgres_database as throwaway_database
from vodstack.api import create_app
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate
from vodstack.db.tables import metadata
from vodstack.domain.accounts import System
from vodstack.services import accounts
from vodstack.settings import MiB, Settings

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
# Who creates the tests' users: an operator, as `vodstack users create` does.
SYSTEM = System("the test suite")


def media(name: str) -> Path:
    """A file from the shared test media; skips the test when the media is not there."""
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"test media {path} is missing (expected ../shared/media beside the repo)")
    return path


@pytest.fixture(autouse=True)
def cheap_key_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process, keys are hashed at argon2's lowest cost: at its default cost the
    hashes and verifications of each test's users (the first admin, the signed-in client's
    user, its first request) take most of an in-process test's time, and what the tests
    prove does not depend on the cost. Real ``vodstack`` processes keep the default cost."""
    cheap = functools.partial(PasswordHasher, time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "PasswordHasher", cheap)


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """A real S3 and SQS endpoint on a free loopback port, for the whole run."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        with moto_server() as server:
            yield server


@pytest.fixture(scope="session")
def moto_with_auth(moto: Moto) -> Iterator[Moto]:
    """An endpoint that checks credentials, as AWS does: the test keys are unknown to it."""
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database for this test run, dropped at the end."""
    try:
        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with throwaway_database("vodstack_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test gets an empty, migrated database on each backend."""
    return await empty_database(request, str(request.param), tmp_path)


async def empty_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """The URL of an empty database: a new SQLite file, or the run's PostgreSQL database
    migrated and emptied."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    await migrate(engine)
    async with engine.begin() as conn:
        names = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://testserver",
        part_size=5 * MiB,
        max_upload_bytes=200 * MiB,
        _env_file=None,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app in-process; part URLs point at it too (public URL http://testserver)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), signed_in(app) as client:
        yield client


@asynccontextmanager
async def signed_in(
    app: FastAPI, name: str = "tester", admin: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running ``app`` that sends a new user's key."""
    _, key = await app.state.services.accounts.create_user(name, admin, SYSTEM)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client
