"""`vodstack upload --visibility --description`, `delete`, `retry` and `open` against a real
`vodstack serve` process (with its worker: a video has to fail to be retried)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import media
from tests.support.processes import VODSTACK, Server, last_json, run_cli, start_server

CLIP = "axm_bear_vp9_odd_161x121.webm"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


def _cli(
    server: Server, *args: str, answer: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """The CLI with ``answer`` on its stdin, for what it asks."""
    return subprocess.run(
        [*VODSTACK, *args, "--server", server.url],
        env={**server.env, **env},
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _upload(server: Server, *args: str) -> str:
    done = run_cli(server, "upload", str(media(CLIP)), "--json", *args)
    assert done.returncode == 0, done.stderr
    video_id: str = last_json(done.stdout)["video_id"]
    return video_id


def test_upload_sets_visibility_and_description_and_open_prints_a_working_link(
    server: Server,
) -> None:
    video_id = _upload(server, "--visibility", "private", "--description", "a bear, odd-sized")
    shown = json.loads(run_cli(server, "status", video_id).stdout)
    assert (shown["visibility"], shown["description"]) == ("private", "a bear, odd-sized")

    opened = run_cli(server, "open", video_id, "--print")
    assert opened.returncode == 0, opened.stderr
    # A private video's page needs the key: the link signs the browser in, as the demo's.
    assert opened.stdout.strip() == f"{server.url}/videos/{video_id}#key={server.api_key}"
    assert "holds your API key" in opened.stderr
    assert httpx.get(f"{server.url}/videos/{video_id}").status_code == 200

    public = _upload(server, "--visibility", "public")
    assert run_cli(server, "open", public, "--print").stdout == f"{server.url}/videos/{public}\n"
    refused = run_cli(server, "upload", str(media(CLIP)), "--visibility", "secret")
    assert refused.returncode == 2
    assert "'secret' is not one of" in refused.stderr


def test_open_opens_the_page_in_the_browser(server: Server, tmp_path: Path) -> None:
    video_id = _upload(server, "--visibility", "unlisted")
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {tmp_path}/opened\n')
    browser.chmod(0o755)
    done = _cli(server, "open", video_id, BROWSER=str(browser))
    assert done.returncode == 0, done.stderr
    url = f"{server.url}/videos/{video_id}"
    assert done.stdout.strip() == url
    assert (tmp_path / "opened").read_text().strip() == url


def test_delete_asks_first_unless_told_yes(server: Server) -> None:
    video_id = _upload(server)
    kept = _cli(server, "delete", video_id, answer="n\n")
    assert kept.returncode == 1
    assert f"Delete video {video_id} (axm_bear_vp9_odd_161x121)?" in kept.stderr
    assert run_cli(server, "status", video_id).returncode == 0

    deleted = _cli(server, "delete", video_id, answer="y\n")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted video {video_id}" in deleted.stderr
    gone = run_cli(server, "status", video_id)
    assert gone.returncode == 1
    assert "not_found, HTTP 404" in gone.stderr

    other = _upload(server)
    assert run_cli(server, "delete", other, "--yes").returncode == 0
    assert run_cli(server, "status", other).returncode == 1
    again = run_cli(server, "delete", other, "--yes")
    assert again.returncode == 1
    assert "HTTP 404" in again.stderr


def test_retry_queues_a_failed_video_again(server: Server, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4096))
    failed = run_cli(server, "upload", str(broken), "--wait", "--json")
    assert failed.returncode == 1
    video_id = last_json(failed.stdout)["video_id"]
    assert last_json(failed.stdout)["status"] == "failed"

    retried = run_cli(server, "retry", video_id, "--json")
    assert retried.returncode == 0, retried.stderr
    result = last_json(retried.stdout)
    assert result["video_id"] == video_id
    assert result["status"] in ("queued", "processing", "failed")

    ready = _upload(server)
    refused = run_cli(server, "retry", ready)
    assert refused.returncode == 1
    assert "only a failed video can be retried" in refused.stderr
