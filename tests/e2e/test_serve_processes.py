"""`vodstack serve` as it runs by default on a machine of several CPUs: one HTTP process per
CPU on one port and the job worker in a process of its own, on the embedded stack. Whichever
process answers, a video plays, a token one process signed opens it on the other, the rate
limit is the configured one (not twice it), every process is ready, every scrape of
/metrics shows every process's counters (the worker's included), every process writes
vodstack's access log as configured and none writes uvicorn's, and SIGTERM leaves no
process behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import media
from tests.support.metrics import scrape
from tests.support.processes import (
    Server,
    command_line,
    descendants,
    serve_pid,
    start_server,
    upload_file,
)

TOKENS_PER_MINUTE = 4
# The default, one HTTP process per CPU; on a machine of one CPU, two all the same.
PROCESSES = max(2, os.cpu_count() or 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not read its status yet.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_processes_on_one_port_with_the_worker_apart(tmp_path: Path) -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    env = {
        # Unset (the default) where there are CPUs enough.
        "VODSTACK_PROCESSES": None if os.cpu_count() == PROCESSES else str(PROCESSES),
        "VODSTACK_ENCODER": "libx264",
        "VODSTACK_PLAYBACK_TOKENS_PER_MINUTE": str(TOKENS_PER_MINUTE),
        # No playlist or segment served well is logged; every other request is.
        "VODSTACK_ACCESS_LOG_SAMPLE": "0",
    }
    with start_server(tmp_path, **env) as server:
        parent = serve_pid(server)
        tree = descendants(parent)
        lines = {pid: command_line(pid) for pid in tree}
        http = [p for p, argv in lines.items() if any(b"spawn_main" in a for a in argv)]
        workers = [p for p, argv in lines.items() if b"worker" in argv]
        assert len(http) == PROCESSES, lines  # the processes uvicorn spawned
        assert len(workers) == 1, lines
        shared = _metrics_directory(workers[0])
        assert shared.is_dir()  # made for this run, known to every process it started

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

        _every_scrape_counts_every_process(server)
        _only_vodstacks_access_log_as_configured(tmp_path / "serve.log", master_url)

    # The server has had its SIGTERM and exited: nothing it started is left running.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in tree if _alive(pid)] == [], lines
    assert not shared.exists()  # removed with the run


def _metrics_directory(pid: int) -> Path:
    """Where the processes of the run keep their metrics, as ``pid`` was told."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    named = [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert len(named) == 1, "the process was not given the run's metrics directory"
    return Path(named[0].split(b"=", 1)[1].decode())


def _every_scrape_counts_every_process(server: Server) -> None:
    """Each scrape, on a new connection, is answered by whichever process takes it: each must
    show the same sums, the worker's published jobs and slots included."""
    deadline = time.monotonic() + 30
    while True:  # until the worker has nothing left to do, so that the figures hold still
        settled = scrape(server.url)
        busy = settled.value("vodstack_worker_busy_slots")
        waiting = sum(settled.value("vodstack_jobs", state=s) for s in ("queued", "processing"))
        if busy == 0 and waiting == 0:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the worker never settled: {settled.text}")
        time.sleep(0.2)
    scrapes = [scrape(server.url) for _ in range(6)]
    published = [s.value("vodstack_jobs_published_total") for s in scrapes]
    assert published == [published[0]] * 6, published
    assert published[0] >= 1, scrapes[0].text
    for each in scrapes:
        assert each.value("vodstack_uploads_completed_total") == 1, each.text
        assert each.value("vodstack_worker_slots") == 1, each.text  # role all's one slot
        assert each.value("vodstack_encode_duration_seconds_count", encoder="libx264") >= 1
        # The 12 readiness probes above, answered by whichever process took each.
        readyz = each.value(
            "vodstack_http_requests_total", method="GET", route="/readyz", status="200"
        )
        assert readyz == 12, each.text


def _only_vodstacks_access_log_as_configured(log: Path, master_url: str) -> None:
    """With the sample at 0, no process logs the master playlists it served; every process
    logs every /readyz it answered, once, in vodstack's JSON form; none logs uvicorn's."""
    deadline = time.monotonic() + 10
    while True:  # a line is written once its request is answered
        lines = _json_lines(log)
        access = [line for line in lines if line["logger"] == "vodstack.access"]
        if sum(line["path"] == "/readyz" for line in access) >= 12 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [line for line in lines if line["logger"] == "uvicorn.access"] == []
    assert sum(line["path"] == "/readyz" for line in access) == 12
    master_path = master_url.split("://", 1)[1].split("/", 1)[1].split("?", 1)[0]
    served = [line for line in access if line["path"].startswith(f"/{master_path}?")]
    assert served == []  # 12 answered, none sampled
    refused = [line for line in access if line["path"] == f"/{master_path}"]
    assert len(refused) == 12  # a refusal is always logged
    assert all(line["status"] >= 400 for line in refused)


def _json_lines(log: Path) -> list[dict[str, Any]]:
    text = log.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
