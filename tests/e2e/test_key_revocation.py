"""A key revoked through one API process is refused by another on the same database within
a second, though that process had just trusted it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.processes import start_server

DEADLINE_SECONDS = 1.0


def test_a_key_revoked_in_one_process_is_refused_by_another(tmp_path: Path) -> None:
    env = {"VODSTACK_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    # One after the other: the first creates the admin whose key both accept.
    with (
        start_server(tmp_path / "a", "--workers", "0", **env) as first,
        start_server(tmp_path / "b", "--workers", "0", **env) as second,
    ):
        admin = first.headers
        created = httpx.post(f"{first.url}/v1/keys", json={"name": "shared"}, headers=admin)
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        assert httpx.get(f"{second.url}/v1/keys", headers=key).status_code == 200
        revoked = httpx.delete(f"{first.url}/v1/keys/{created.json()['id']}", headers=admin)
        assert revoked.status_code == 204
        deadline = time.monotonic() + DEADLINE_SECONDS
        with httpx.Client(base_url=second.url, headers=key) as client:
            status = client.get("/v1/keys").status_code
            while status != 401 and time.monotonic() < deadline:
                status = client.get("/v1/keys").status_code
        assert status == 401
        assert httpx.get(f"{first.url}/v1/keys", headers=key).status_code == 401
