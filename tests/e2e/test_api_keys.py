"""A key revoked through one API process is refused by another on the same database within
a second, though that process had just trusted it; and the keys and users commands."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.processes import VODSTACK, run_cli, start_server

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


def test_the_keys_commands_create_list_and_revoke(tmp_path: Path) -> None:
    with start_server(tmp_path, "--workers", "0") as server:
        made = run_cli(
            server, "keys", "create", "--name", "ci", "--scope", "read", "--expires-in", "600"
        )
        assert made.returncode == 0, made.stderr
        shown = run_cli(server, "keys", "create", "--name", "ops", "--json")
        assert shown.returncode == 0, shown.stderr
        created = json.loads(shown.stdout)
        assert created["scopes"] == ["admin", "manage", "read", "upload"]
        assert made.stdout.strip().startswith("vsk_")
        listed = run_cli(server, "keys", "list", "--json")
        names = {k["name"]: k for k in json.loads(listed.stdout)["keys"]}
        assert set(names) == {"default", "ci", "ops"}
        assert names["ci"]["scopes"] == ["read"]
        assert run_cli(server, "keys", "revoke", created["id"]).returncode == 0
        listed = run_cli(server, "keys", "list", "--json")
        assert "ops" not in {k["name"] for k in json.loads(listed.stdout)["keys"]}
        refused = run_cli(server, "keys", "revoke", created["id"])
        assert refused.returncode == 1
        assert "no key" in refused.stderr
        users = subprocess.run(
            [*VODSTACK, "users", "list", "--json"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert [u["name"] for u in json.loads(users.stdout)["users"]] == ["admin"]
