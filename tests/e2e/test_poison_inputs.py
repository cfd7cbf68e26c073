"""Poison and hostile inputs through the real HTTP upload and the real worker.

On the production stack: files on which ffmpeg hangs or crashes. The watchdog kills a
silent ffmpeg, each poison job fails with its reason after its bounded attempts and lands
in the dead-letter queue, and a good video beside them is done.

On both stacks (SQLite and a directory; PostgreSQL, S3 and SQS): files an attacker would
upload. Each fails at its first attempt with a reason a person reads, or is published
within its budget; nothing in them reaches the network; no worker dies; and a good video
processed beside them is ready."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest

from tests.conftest import media
from tests.support import hostile
from tests.support.aws import Moto
from tests.support.processes import Server, start_server, start_split, upload_file
from tests.support.stack import postgres_database, production_env, with_api_key

POISON_FFMPEG = Path(__file__).resolve().parents[1] / "support" / "poison_ffmpeg.sh"


@dataclass
class Stack:
    upload: Server
    play: Server
    moto: Moto
    queue_url: str


# The stub decoder that crashes the probe on a marked file, in every process the stacks run.
CRASHING_PROBE_PATH = os.pathsep.join(
    p for p in (str(hostile.CRASHING_PROBE), os.environ.get("PYTHONPATH")) if p
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("poison")
    queue_url = moto.queue(max_receive_count=10, visibility=10)
    with postgres_database() as database:
        env = with_api_key(
            production_env(
                moto,
                database,
                queue_url,
                moto.bucket(),
                VODSTACK_FFMPEG=str(POISON_FFMPEG),
                VODSTACK_REAL_FFMPEG=imageio_ffmpeg.get_ffmpeg_exe(),
                VODSTACK_STALL_SECONDS="2",
                VODSTACK_MAX_ATTEMPTS="2",
                PYTHONPATH=CRASHING_PROBE_PATH,
            )
        )
        with start_split(root, **env) as (upload, play):
            upload.start_worker("--concurrency", "2")
            yield Stack(upload, play, moto, queue_url)


def poisoned(tmp_path: Path, marker: str) -> Path:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    path = tmp_path / f"{marker.lower()}.webm"
    path.write_bytes(clip.read_bytes() + marker.encode())
    return path


@pytest.mark.postgres
def test_poison_fails_after_its_attempts_and_never_blocks_good_videos(
    stack: Stack, tmp_path: Path
) -> None:
    hang = upload_file(stack.upload, poisoned(tmp_path, "POISON-HANG"))
    crash = upload_file(stack.upload, poisoned(tmp_path, "POISON-CRASH"))
    good = upload_file(stack.upload, media("axm_sample_h264_ac3.mkv"))
    assert stack.play.wait_for(good, lambda v: v["status"] == "ready", timeout=60)

    def settled(v: dict[str, object]) -> bool:
        return v["status"] in ("ready", "failed")

    hung = stack.play.wait_for(hang, settled, timeout=120)
    crashed = stack.play.wait_for(crash, settled, timeout=120)
    assert hung["status"] == crashed["status"] == "failed"
    assert "gave up after 2 attempts" in str(hung["error"])
    assert "progress" in str(hung["error"]), hung["error"]  # the watchdog's reason
    assert "gave up after 2 attempts" in str(crashed["error"])
    assert "signal" in str(crashed["error"]).lower() or "SIGSEGV" in str(crashed["error"])
    dead = [json.loads(b)["video_id"] for b in stack.moto.dead_letter_bodies(stack.queue_url)]
    assert sorted(dead) == sorted([hang, crash])
    assert all(w.poll() is None for w in stack.upload.workers)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("hostile-embedded")
    with start_server(root, "--workers", "0", PYTHONPATH=CRASHING_PROBE_PATH) as server:
        server.start_worker("--concurrency", "2")
        yield server


@dataclass(frozen=True)
class Verdict:
    """How a file must end: its status, and words its reason (or warning) holds."""

    status: str
    words: str = ""


def hostile_files(folder: Path, listener: str) -> dict[Path, Verdict]:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    whole = hostile.index_first(folder / "whole.mp4")
    refused = "failed"
    return {
        hostile.playlist(folder / "playlist.mp4", listener): Verdict(refused, "it is a playlist"),
        hostile.local_playlist(folder / "local.mp4"): Verdict(refused, "it is a playlist"),
        hostile.concat_list(folder / "list.mp4", clip): Verdict(refused, "concat list"),
        hostile.remote_concat_list(folder / "remote.mp4", listener): Verdict(refused, "concat"),
        hostile.with_gap(folder / "gap.mp4", 36000): Verdict(refused, "no new picture for 10 h"),
        hostile.with_gap(folder / "still.mp4", 20, size="320x240"): Verdict("ready"),
        hostile.huge_frame(folder / "huge.mp4"): Verdict(refused, "the picture is too large"),
        hostile.many_streams(folder / "streams.mkv"): Verdict(refused, "the file has 64 streams"),
        hostile.crashing(clip, folder / "crash.webm"): Verdict(refused, "crashed the video parser"),
        hostile.cut(whole, folder / "cut.mp4", 0.6): Verdict("ready", "the file is truncated"),
        hostile.cut(whole, folder / "stub.mp4", 0.3): Verdict(refused, "less than 50%"),
    }


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("production", marks=pytest.mark.postgres)]
)
def test_hostile_files_end_at_once_with_their_reason_and_reach_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "embedded":
        upload = play = request.getfixturevalue("embedded")
    else:
        production: Stack = request.getfixturevalue("stack")
        upload, play = production.upload, production.play
    with hostile.listener() as loopback:
        files = hostile_files(tmp_path, loopback.url)
        videos = {upload_file(upload, path): verdict for path, verdict in files.items()}
        good = upload_file(upload, media("axm_sample_h264_ac3.mkv"))
        assert play.wait_for(good, lambda v: v["status"] == "ready", timeout=120)
        for video_id, verdict in videos.items():
            video = play.wait_for(video_id, _settled, timeout=120)
            _check_verdict(play, video, verdict, str(tmp_path))
        assert loopback.connections == []
    assert all(w.poll() is None for w in upload.workers)


def _settled(video: dict[str, Any]) -> bool:
    return video["status"] in ("ready", "failed")


def _check_verdict(play: Server, video: dict[str, Any], verdict: Verdict, root: str) -> None:
    assert video["status"] == verdict.status, video
    events = play.get(f"/v1/videos/{video['id']}/events")
    claims = [e for e in _items(events) if e["kind"] == "claimed"]
    assert len(claims) == 1, f"one attempt, not {len(claims)}: {events}"
    said = " ".join([video["error"] or "", *video["warnings"]])
    assert verdict.words in said, video
    assert root not in said
    assert "/" not in (video["error"] or ""), video["error"]


def _items(events: Any) -> list[dict[str, Any]]:
    return list(events["events"] if isinstance(events, dict) else events)
