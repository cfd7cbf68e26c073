"""Real processes, observed as an operator would: after one upload and one job, the metrics
moved as they should, the probes answer, and every log line is a JSON object that names its
request, or its job's video, epoch and worker. Once on the all-in-one server, whose /metrics
shows its in-process worker too, and once with a separate worker and its metrics port."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import media
from tests.support.metrics import scrape
from tests.support.processes import Server, free_port, start_server, upload_file

CLIP = "axm_sample_h264_ac3.mkv"  # one second, 108 KB: one short encode
JSON_LOGS = {"VODSTACK_LOG_FORMAT": "json", "VODSTACK_ENCODER": "libx264"}


def ready(video: dict[str, Any]) -> bool:
    return video["status"] in ("ready", "failed")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be a JSON object."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line in {path.name}: {line!r}")
    return parsed


def assert_job_lines_name_the_job(lines: list[dict[str, Any]], video_id: str) -> None:
    job_lines = [line for line in lines if line.get("video_id") == video_id]
    messages = [line["message"] for line in job_lines]
    assert any(m.startswith("job started") for m in messages), messages
    assert "job published" in messages
    for line in job_lines:
        assert line["epoch"] == 1
        assert line["worker_id"].endswith("/0")  # the worker's name and its slot
        assert line["job_id"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("observed"), **JSON_LOGS) as running:
        yield running


def test_the_all_in_one_server_after_one_upload_and_its_job(server: Server) -> None:
    clip = media(CLIP)
    video_id = upload_file(server, clip)
    assert server.wait_for(video_id, ready)["status"] == "ready"

    probe = httpx.get(f"{server.url}/readyz", headers={"X-Request-ID": "probe-1"})
    assert probe.status_code == 200
    assert probe.headers["x-request-id"] == "probe-1"
    assert probe.json()["checks"] == {"database": "ok", "storage": "ok", "worker": "ok"}

    metrics = scrape(server.url)
    assert metrics.value("vodstack_uploads_created_total") == 1
    assert metrics.value("vodstack_uploads_completed_total") == 1
    assert metrics.value("vodstack_upload_bytes_total") == clip.stat().st_size
    assert metrics.value("vodstack_jobs", state="ready") == 1
    assert metrics.value("vodstack_jobs", state="queued") == 0
    assert metrics.value("vodstack_jobs_claimed_total") == 1
    assert metrics.value("vodstack_jobs_published_total") == 1
    assert metrics.value("vodstack_job_queue_wait_seconds_count") == 1
    assert metrics.value("vodstack_encode_duration_seconds_count", encoder="libx264") == 1
    assert metrics.value("vodstack_encode_realtime_factor_count", encoder="libx264") == 1
    assert metrics.value("vodstack_encoded_media_seconds_total", encoder="libx264") > 0.5
    assert metrics.value("vodstack_worker_slots") == 1
    assert (
        metrics.value(
            "vodstack_http_requests_total", method="POST", route="/v1/uploads", status="201"
        )
        == 1
    )
    complete = {"method": "POST", "route": "/v1/uploads/{upload_id}/complete"}
    assert metrics.value("vodstack_http_requests_total", **complete, status="202") == 1
    assert metrics.value("vodstack_http_request_duration_seconds_count", **complete) == 1
    for operation in ("receive_part", "complete_multipart", "download_file", "upload_file"):
        assert metrics.value(
            "vodstack_storage_operation_duration_seconds_count", operation=operation
        )
    # Route templates, never paths: no id in any label.
    assert not re.search(r'route="[^"]*[0-9a-f]{32}', metrics.text)

    lines = json_lines(server.data_dir.parent / "serve.log")
    access = [line for line in lines if line["logger"] == "vodstack.access"]
    assert all(len(line["request_id"]) > 0 for line in access)
    (probed,) = [line for line in access if line["request_id"] == "probe-1"]
    assert (probed["method"], probed["path"], probed["status"]) == ("GET", "/readyz", 200)
    assert_job_lines_name_the_job(lines, video_id)


def test_a_worker_process_serves_its_metrics_and_probes(tmp_path: Path) -> None:
    clip = media(CLIP)
    with start_server(tmp_path, "--workers", "0", **JSON_LOGS) as server:
        port = free_port()
        worker_log = tmp_path / "worker.log"
        server.start_worker(
            "--metrics-port", str(port), "--metrics-host", "127.0.0.1", log=worker_log
        )
        probes = f"http://127.0.0.1:{port}"
        ready_answer = _wait_ready(probes)
        assert ready_answer["checks"] == {"database": "ok", "storage": "ok", "worker": "ok"}
        assert httpx.get(f"{probes}/healthz").json() == {"status": "ok"}

        video_id = upload_file(server, clip)
        assert server.wait_for(video_id, ready)["status"] == "ready"

        worker = scrape(probes)
        assert worker.value("vodstack_jobs_claimed_total") == 1
        assert worker.value("vodstack_jobs_published_total") == 1
        assert worker.value("vodstack_encode_duration_seconds_count", encoder="libx264") == 1
        assert (
            worker.value(
                "vodstack_storage_operation_duration_seconds_count", operation="download_file"
            )
            == 1
        )
        assert worker.value("vodstack_worker_slots") == 1
        assert "vodstack_jobs" not in worker.names()  # the jobs by state: the API's to report
        api = scrape(server.url)
        assert api.value("vodstack_uploads_completed_total") == 1
        assert api.value("vodstack_jobs", state="ready") == 1
        assert api.value("vodstack_jobs_claimed_total") == 0  # this server runs no worker

    assert_job_lines_name_the_job(json_lines(worker_log), video_id)


def _wait_ready(base_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = httpx.get(f"{base_url}/readyz", timeout=5)
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the worker's probes at {base_url} never answered ready")
        time.sleep(0.2)
