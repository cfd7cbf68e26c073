"""The web app in headless Chromium: the node tests in tests/browser/ (Playwright) against one
real ``vodstack serve --workers 0``. First a split video, held playable by a worker that
waits before publishing its last part, is played from its start and on to its end once the
part is let go; then a plain worker encodes the upload of the adaptive playback test. Then
the pages around a ready video's stream: thumbnails, poster, storyboard, captions, embed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

from tests.conftest import media
from tests.support.processes import Server, start_server, upload_file
from tests.support.split import SECONDS, SETTINGS, SOURCE, cut, split_clip

REPO = Path(__file__).resolve().parents[2]
BROWSER_TESTS = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
NODE_MODULES = REPO / "web" / "node_modules"
HOLDING_WORKER = [sys.executable, "-m", "tests.support.crash_points"]
# Five segments of 6 s: hls.js loads a rendition below the top one while the network is
# throttled, and the top one once it is freed, with segments still to load.
ADAPTIVE_SECONDS = 30
HELD_PART = "c1t2"  # a part of the 332p tier: while it is held, 240p and the audio are all in
PLAYABLE_TEST = "a playable video plays across a chunk boundary, and to its end once ready"
ADAPTIVE_TEST = "upload, transcode and adaptive playback in Chromium"
DIRECT_TEST = "a direct-upload link uploads without a key"
AROUND_TESTS = (
    "the library, the player and its previews around the stream",
    "the embed page plays the video alone, with its captions menu",
)
# A node test's diagnostic line in TAP, not a subtest's title nor the run's summary.
_DIAGNOSTIC = re.compile(
    r"^# (?!Subtest: |(?:tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) \d)(.*)$",
    re.MULTILINE,
)


def test_playback_in_chromium_while_playable_and_once_ready(tmp_path: Path) -> None:
    node = _node()
    clip = cut(SOURCE, ADAPTIVE_SECONDS, tmp_path / "adaptive.webm")
    with start_server(tmp_path, "--workers", "0", VODSTACK_ENCODER="libx264", **SETTINGS) as server:
        release = tmp_path / "release"
        held = server.start_worker(
            "--concurrency", "2", command=[*HOLDING_WORKER, f"hold:{HELD_PART}:{release}"]
        )
        video_id = upload_file(server, split_clip(tmp_path))
        server.wait_for_log(held, f"holding part {HELD_PART}", timeout=120)
        video = server.wait_for(video_id, lambda v: v["status"] in ("playable", "ready", "failed"))
        assert video["status"] == "playable", video
        playable = {
            "VIDEO_ID": video_id,
            "VIDEO_SECONDS": str(SECONDS),
            "RELEASE_FILE": str(release),
        }
        _run_node(node, server, PLAYABLE_TEST, **playable)
        held.send_signal(signal.SIGTERM)
        assert held.wait(timeout=30) == 0, "the holding worker must stop cleanly"
        # The longer cut as one job, whose timeline (probed, encoded) that test reads: the
        # split video's way is the first test's.
        server.start_worker(VODSTACK_CHUNK_SINGLE_BELOW_SECONDS="600")
        _run_node(node, server, ADAPTIVE_TEST, MEDIA_FILE=str(clip))


def test_a_direct_upload_link_in_chromium(tmp_path: Path) -> None:
    node = _node()
    clip = media("axm_bear_vp9_odd_161x121.webm")
    with start_server(tmp_path, "--workers", "0") as server:
        made = httpx.post(
            f"{server.url}/v1/direct-uploads",
            json={"title": "From a link", "visibility": "unlisted"},
            headers=server.headers,
        )
        assert made.status_code == 201, made.text
        _run_node(
            node, server, DIRECT_TEST, DIRECT_URL=made.json()["upload_url"], MEDIA_FILE=str(clip)
        )
        videos = server.get("/v1/videos")["videos"]
        linked = [v for v in videos if v["title"] == "From a link"]
        assert [v["visibility"] for v in linked] == ["unlisted"], videos
        assert linked[0]["status"] == "queued"


def test_the_pages_around_the_stream_in_chromium(tmp_path: Path) -> None:
    node = _node()
    clip = _captioned_clip(tmp_path / "captioned.mkv")
    with start_server(tmp_path) as server:
        video_id = upload_file(server, clip)
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video
        shots = tmp_path / "screenshots"
        for name in AROUND_TESTS:
            _run_node(node, server, name, VIDEO_ID=video_id, SCREENSHOT_DIR=str(shots))
    assert sorted(p.name for p in shots.glob("*.png")) == ["embed.png", "library.png", "player.png"]


def _captioned_clip(target: Path) -> Path:
    """Eight seconds of a test picture and tone, with an English subtitle stream."""
    subtitles = target.with_suffix(".srt")
    subtitles.write_text(
        "1\n00:00:00,500 --> 00:00:03,500\nThe first caption\n\n"
        "2\n00:00:04,000 --> 00:00:07,500\nThe second caption\n"
    )
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y"]
    command += ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=8"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:duration=8", "-i", str(subtitles)]
    command += ["-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast"]
    command += ["-c:a", "aac", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(target)]
    subprocess.run(command, check=True)
    return target


def _node() -> str:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} and `make test` could not install it "
            "(it runs `apt-get install -y chromium`)"
        )
    node = shutil.which("node")
    assert node is not None, "node is not installed: the browser tests run with `node --test`"
    for needed in ("playwright-core/package.json", "hls.js/dist/hls.min.js"):
        assert (NODE_MODULES / needed).exists(), (
            f"{NODE_MODULES / needed} is missing: run `make` (it runs `npm ci` in web/)"
        )
    return node


def _run_node(node: str, server: Server, name: str, **env: str) -> None:
    """Runs the node test ``name``, which must pass, not skip; its diagnostics (what it
    measured) are printed."""
    # Files rather than the folder: node before 21 and after read folder arguments differently.
    tests = sorted(str(p) for p in BROWSER_TESTS.glob("*.test.mjs"))
    pattern = f"^{re.escape(name)}$"
    run = subprocess.run(
        [node, "--test", "--test-reporter=tap", f"--test-name-pattern={pattern}", *tests],
        cwd=REPO,
        env={**os.environ, "BASE_URL": server.url, "API_KEY": server.api_key or "", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{run.stdout}\n{run.stderr}"
    if run.returncode != 0:
        log = (server.data_dir.parent / "serve.log").read_text(errors="replace")[-4000:]
        workers = "".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}\n"
            for path in server.worker_logs.values()
        )
        pytest.fail(
            f"node --test failed ({run.returncode}):\n{output}\n--- serve.log ---\n{log}\n{workers}"
        )
    # A skipped node test exits 0 too; this one must really have run.
    assert re.search(rf"^ok \d+ - {re.escape(name)}$", output, re.MULTILINE), output
    print(f"{name}:", *_DIAGNOSTIC.findall(output), sep="\n  ")
