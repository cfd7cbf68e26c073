"""Real worker processes on one database: a worker SIGKILLed mid-encode, and another that
finishes the job once the lease runs out; nothing of the dead attempt survives."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.machine_paths import machine_paths
from tests.support.processes import Server, last_json, run_cli, start_server
from tests.support.split import SOURCE, cut

LEASE = "4"
HEARTBEAT = "1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(
        tmp_path_factory.mktemp("workers"),
        "--workers",
        "0",
        VODSTACK_LEASE_SECONDS=LEASE,
        VODSTACK_HEARTBEAT_SECONDS=HEARTBEAT,
        VODSTACK_ENCODER="libx264",
        # One job in one piece: this file follows one lease from worker to worker.
        VODSTACK_CHUNK_SINGLE_BELOW_SECONDS="1e9",
    ) as running:
        yield running


def test_released_killed_and_finished_by_another_worker(server: Server, tmp_path: Path) -> None:
    """One job, three workers: the first is stopped (SIGTERM twice) and hands the job back at
    once; the second is SIGKILLed mid-encode; the third finishes it after the lease expires."""
    # Seconds of encoding, so each worker is caught mid-encode; the film's 70 s add nothing.
    clip = cut(SOURCE, 30, tmp_path / "clip.webm")
    uploaded = last_json(run_cli(server, "upload", str(clip), "--json").stdout)
    video_id = uploaded["video_id"]
    encoding = lambda v: v["status"] == "processing" and v["progress"] > 0.02  # noqa: E731
    not_ready = httpx.get(f"{server.url}/v1/videos/{video_id}/playback")
    assert (not_ready.status_code, not_ready.json()["error"]["code"]) == (409, "video_not_ready")

    polite = server.start_worker()
    server.wait_for(video_id, encoding)
    polite.send_signal(signal.SIGTERM)
    # The second SIGTERM must arrive after the first was handled, or the two are one.
    server.wait_for_log(polite, "stopping: finishing running jobs")
    polite.send_signal(signal.SIGTERM)
    assert polite.wait(timeout=10) == 0
    released = server.get(f"/v1/videos/{video_id}")
    assert released["status"] == "queued"

    doomed = server.start_worker()
    server.wait_for(video_id, encoding, timeout=30)  # claimed at once: no lease to wait out
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = time.monotonic()

    server.start_worker()
    video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"), timeout=300)
    assert video["status"] == "ready", video
    assert time.monotonic() - killed_at >= float(LEASE) - 1  # only once the lease ran out
    assert [r["name"] for r in video["renditions"]]

    events = server.get(f"/v1/videos/{video_id}/events")["events"]
    claims = [(e["epoch"], e["worker"]) for e in events if e["kind"] == "claimed"]
    assert [epoch for epoch, _ in claims] == [1, 2, 3]
    assert len({worker for _, worker in claims}) == 3
    assert [(e["kind"], e["epoch"]) for e in events if e["kind"] in ("released", "ready")] == [
        ("released", 1),
        ("ready", 3),
    ]
    commands = [(e["epoch"], e["detail"]["command"]) for e in events if e["kind"] == "encoding"]
    assert [epoch for epoch, _ in commands] == [1, 2, 3]  # every attempt's exact command
    assert all("libx264" in command and "-progress" in command for _, command in commands)
    # The owner reads the timeline: the command names the ffmpeg, the source and the output
    # folder as the receipt does, never by the server's own paths.
    assert all(command.startswith("ffmpeg ") for _, command in commands)
    assert [machine_paths(command, server.data_dir) for _, command in commands] == [[]] * 3

    outputs = server.data_dir / "objects" / "outputs" / video_id
    assert sorted(p.name for p in outputs.iterdir()) == ["e3"]  # nothing of epochs 1 and 2
    assert (outputs / "e3" / "master.m3u8").is_file()
    check_playback(server, video_id)


def check_playback(server: Server, video_id: str) -> None:
    """The play API serves the published ladder: types, ranges, caching, CORS, and nothing
    outside the published epoch."""
    master_url = server.get(f"/v1/videos/{video_id}/playback")["master_url"]
    assert master_url.endswith(f"/v1/videos/{video_id}/hls/e3/master.m3u8")
    master = httpx.get(master_url, headers={"Origin": "http://elsewhere.example"})
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["cache-control"] == "public, max-age=10"
    assert master.headers["access-control-allow-origin"] == "*"
    variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert len(variants) == 2  # 332p and 240p
    for variant in variants:
        media_url = master_url.rsplit("/", 1)[0] + "/" + variant
        playlist = httpx.get(media_url)
        assert playlist.status_code == 200
        segment = next(line for line in playlist.text.splitlines() if line.endswith(".m4s"))
        segment_url = media_url.rsplit("/", 1)[0] + "/" + segment
        whole = httpx.get(segment_url)
        assert whole.status_code == 200
        assert whole.headers["content-type"] == "video/iso.segment"
        assert whole.headers["cache-control"] == "public, max-age=31536000, immutable"
        part = httpx.get(segment_url, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == whole.content[10:20]
    base = f"{server.url}/v1/videos/{video_id}/hls"
    for bad in ("e1/master.m3u8", "e3/../e1/master.m3u8", "e3/%2e%2e/secret", "e3/x.txt"):
        assert httpx.get(f"{base}/{bad}").status_code == 404, bad
