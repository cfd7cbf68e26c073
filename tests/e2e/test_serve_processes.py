"""`vodstack serve --processes 2`: two HTTP processes on one port and the job worker in a
process of its own, on the embedded stack. Whichever process answers, a video plays, a
token one process signed opens it on the other, the rate limit is the configured one (not
twice it), every process is ready, and SIGTERM leaves no process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.conftest import media
from tests.support.processes import (
    command_line,
    descendants,
    serve_pid,
    start_server,
    upload_file,
)

TOKENS_PER_MINUTE = 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not read its status yet.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_processes_on_one_port_with_the_worker_apart(tmp_path: Path) -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    env = {
        "VODSTACK_PROCESSES": "2",
        "VODSTACK_ENCODER": "libx264",
        "VODSTACK_PLAYBACK_TOKENS_PER_MINUTE": str(TOKENS_PER_MINUTE),
    }
    with start_server(tmp_path, **env) as server:
        parent = serve_pid(server)
        tree = descendants(parent)
        lines = {pid: command_line(pid) for pid in tree}
        http = [p for p, argv in lines.items() if any(b"spawn_main" in a for a in argv)]
        workers = [p for p, argv in lines.items() if b"worker" in argv]
        assert len(http) == 2, lines  # the processes uvicorn spawned
        assert len(workers) == 1, lines

        video_id = upload_file(server, clip)
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video  # encoded by the worker apart
        owner = server.headers
        made_private = httpx.patch(
            f"{server.url}/v1/videos/{video_id}", json={"visibility": "private"}, headers=owner
        )
        assert made_private.status_code == 200

        # Each request on a new connection: the two processes take them as they come.
        issued = [
            httpx.post(
                f"{server.url}/v1/videos/{video_id}/playback-tokens",
                json={"expires_in": 600},
                headers=owner,
            )
            for _ in range(3 * TOKENS_PER_MINUTE)
        ]
        codes = [r.status_code for r in issued]
        assert codes.count(201) == TOKENS_PER_MINUTE, codes  # one limit for both processes
        assert codes.count(429) == 2 * TOKENS_PER_MINUTE
        master_url = issued[0].json()["master_url"]
        for _ in range(12):
            master = httpx.get(master_url)
            assert master.status_code == 200, master.text
            assert httpx.get(master_url.split("?", 1)[0]).status_code == 404
            assert httpx.get(f"{server.url}/readyz").status_code == 200
        rung = next(line for line in master.text.splitlines() if line and line[0] != "#")
        media_url = master_url.rsplit("/", 1)[0] + "/" + rung
        zipped = httpx.get(media_url, headers={"Accept-Encoding": "gzip"})
        assert zipped.status_code == 200
        assert "#EXT-X-ENDLIST" in zipped.text

    # The server has had its SIGTERM and exited: nothing it started is left running.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in tree if _alive(pid)] == [], lines
