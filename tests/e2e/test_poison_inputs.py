"""Poison inputs on the production stack: files on which ffmpeg hangs or crashes. The
watchdog kills a silent ffmpeg, each poison job fails with its reason after its bounded
attempts and lands in the dead-letter queue, and a good video beside them is done."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest

from tests.conftest import media
from tests.support.aws import Moto
from tests.support.processes import Server, start_split, upload_file
from tests.support.stack import postgres_database, production_env, with_api_key

pytestmark = pytest.mark.postgres

POISON_FFMPEG = Path(__file__).resolve().parents[1] / "support" / "poison_ffmpeg.sh"


@dataclass
class Stack:
    upload: Server
    play: Server
    moto: Moto
    queue_url: str


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
