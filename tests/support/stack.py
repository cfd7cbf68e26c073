"""The production stack for end-to-end tests and benchmarks: a throwaway PostgreSQL
database, a bucket and a queue on moto's server, and the environment that points vodstack's
processes at them."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.support.aws import CREDENTIALS, Moto
from tests.support.processes import VODSTACK

POSTGRES_URL = os.environ.get("VODSTACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def postgres_database(prefix: str = "vodstack_e2e") -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        # A fresh connection: the server may have been restarted meanwhile.
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def production_env(
    moto: Moto, database: str, queue_url: str, bucket: str, **overrides: str
) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "VODSTACK_DATABASE_URL": database,
        "VODSTACK_STORAGE_URL": f"s3://{bucket}/vod",
        "VODSTACK_S3_ENDPOINT_URL": moto.endpoint,
        "VODSTACK_QUEUE_URL": queue_url,
        "VODSTACK_QUEUE_WAIT_SECONDS": "1",
        "VODSTACK_SECRET_KEY": "one key shared by every process",
        "VODSTACK_ENCODER": "libx264",
        **overrides,
    }


def query(database: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database, row_factory=dict_row) as conn:
        return list(conn.execute(sql, params).fetchall())


def with_api_key(env: dict[str, str], name: str = "operator", admin: bool = True) -> dict[str, str]:
    """``env`` with the key of a new user, created the way an operator does it."""
    done = subprocess.run(
        [*VODSTACK, "users", "create", name, *(["--admin"] if admin else []), "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key: str = json.loads(done.stdout.strip().splitlines()[-1])["api_key"]
    return {**env, "VODSTACK_API_KEY": key}
