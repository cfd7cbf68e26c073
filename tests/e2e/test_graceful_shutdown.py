"""SIGTERM during a job loses nothing: a worker finishes its job and exits; the all-in-one
server hands its job back at once, and the job is done after a restart."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from tests.support.processes import start_server, upload_file
from tests.support.split import SOURCE, cut

# One job in one piece, seconds of encoding, so it is caught mid-encode: these tests follow
# one lease. (A split video's parts are jobs too; a worker stopping mid-part is tested with
# chunks.)
SECONDS = 30
ONE_PIECE = {"VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "1e9"}


def encoding(video: dict[str, object]) -> bool:
    return video["status"] == "processing" and float(str(video["progress"])) > 0.05


def test_sigterm_lets_a_worker_finish_its_job(tmp_path: Path) -> None:
    with start_server(
        tmp_path, "--workers", "0", VODSTACK_ENCODER="libx264", **ONE_PIECE
    ) as server:
        video_id = upload_file(server, cut(SOURCE, SECONDS, tmp_path / "clip.webm"))
        worker = server.start_worker()
        server.wait_for(video_id, encoding)
        signalled = datetime.now(UTC)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        video = server.get(f"/v1/videos/{video_id}")
        assert video["status"] == "ready"
        events = server.get(f"/v1/videos/{video_id}/events")["events"]
        kinds = [e["kind"] for e in events]
        assert kinds.count("claimed") == 1
        assert "released" not in kinds
        # The encode ended after the signal: the worker was told to stop mid-job.
        encoded = next(e for e in events if e["kind"] == "encoded")
        assert datetime.fromisoformat(encoded["at"]) > signalled, (encoded, signalled)


def test_sigterm_to_the_all_in_one_server_hands_the_job_back(tmp_path: Path) -> None:
    env = {"VODSTACK_ENCODER": "libx264", **ONE_PIECE}
    clip = cut(SOURCE, SECONDS, tmp_path / "clip.webm")
    with start_server(tmp_path, "--workers", "1", **env) as server:
        video_id = upload_file(server, clip)
        server.wait_for(video_id, encoding)
    # Leaving start_server sends SIGTERM; the job is handed back (not left to expire: the
    # timeline says "released").
    with start_server(tmp_path, "--workers", "1", **env) as server:
        video = server.wait_for(video_id, lambda v: v["status"] == "ready")
        events = server.get(f"/v1/videos/{video_id}/events")["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("released") == 1
    assert kinds.count("ready") == 1
    claims = [e for e in events if e["kind"] == "claimed"]
    assert [c["reason"] for c in claims] == ["attempt 1 of 5", "attempt 1 of 5"]
    assert video["renditions"]
