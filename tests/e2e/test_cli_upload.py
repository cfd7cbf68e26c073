"""`vodstack upload` against a real `vodstack serve` process: upload, resume, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import media
from tests.support.processes import (
    VODSTACK,
    Server,
    free_port,
    last_json,
    run_cli,
    sha256,
    start_server,
)
from vodstack.client import VodstackClient
from vodstack.settings import MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server"), "--workers", "0") as running:
        yield running


def test_upload_a_real_video(server: Server) -> None:
    clip = media("mdn_tears_of_steel_800x332_vp8_70s.webm")
    done = run_cli(server, "upload", str(clip), "--json", "--title", "Tears of Steel")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["status"] == "queued"
    assert sha256(server.source_of(result["video_id"])) == sha256(clip)
    shown = run_cli(server, "status", result["video_id"])
    assert json.loads(shown.stdout)["title"] == "Tears of Steel"
    # The part PUTs are in the access log, their signatures are not.
    log = (server.data_dir.parent / "serve.log").read_text()
    assert "PUT /v1/storage/parts/" in log
    assert re.findall(r"signature=([^&\s\"]+)", log) == ["[redacted]"] * log.count("signature=")


class Interrupted(Exception):
    """Stands in for the process dying: nothing in the client catches it."""


class CutAfter(httpx.AsyncHTTPTransport):
    """A real HTTP transport that stops the upload after ``parts`` part PUTs went through."""

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.left = parts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            if self.left == 0:
                raise Interrupted()
            self.left -= 1
        return await super().handle_async_request(request)


async def test_an_interrupted_upload_resumes_sending_only_missing_parts(
    server: Server, tmp_path: Path
) -> None:
    file = tmp_path / "big.bin"
    file.write_bytes(os.urandom(23 * MiB))  # five parts of 5, 5, 5, 5 and 3 MiB
    client = VodstackClient(
        server.url,
        server.api_key,
        concurrency=1,
        state_dir=Path(server.env["XDG_CACHE_HOME"]) / "vodstack" / "uploads",
        transport=CutAfter(parts=2),
    )
    async with client:
        with pytest.raises(Interrupted):
            await client.upload(file)

    done = run_cli(server, "upload", str(file), "--json")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["resumed"], result["parts_sent"], result["parts_total"]) == (True, 3, 5)
    assert result["status"] == "queued"
    assert sha256(server.source_of(result["video_id"])) == sha256(file)

    again = run_cli(server, "upload", str(file), "--json")  # a finished upload starts afresh
    assert last_json(again.stdout)["video_id"] != result["video_id"]


def test_a_server_error_is_reported_clearly(server: Server, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    done = run_cli(server, "upload", str(empty))
    assert done.returncode == 1
    assert "size must be a positive number of bytes" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_server_is_reported_clearly(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    unreachable = Server(f"http://127.0.0.1:{free_port()}", tmp_path, dict(os.environ))
    done = run_cli(unreachable, "upload", str(clip))
    assert done.returncode == 1
    assert "cannot reach" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_settings_are_named_not_a_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VODSTACK_DATA_DIR": str(tmp_path),
        "VODSTACK_ENCODER": "nowhere",
        "VODSTACK_LEASE_SECONDS": "-1",
    }
    done = subprocess.run(
        [*VODSTACK, "worker"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "VODSTACK_ENCODER: Input should be 'auto'" in done.stderr
    assert "VODSTACK_LEASE_SECONDS: Input should be greater than 0" in done.stderr
    assert "Traceback" not in done.stderr
    env = {**os.environ, "VODSTACK_DATA_DIR": str(tmp_path), "VODSTACK_QUEUE_URL": "sqs"}
    checked = subprocess.run(
        [*VODSTACK, "check-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 1
    assert "VODSTACK_QUEUE_URL 'sqs': expected 'database' or an SQS queue URL" in checked.stderr
