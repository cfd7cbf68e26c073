"""Fault injection on the production stack (PostgreSQL, S3, SQS; separate processes).

A worker is SIGKILLed at each step of a job, from inside so that the kill lands exactly
there; another worker then finishes the job. A worker paused (SIGSTOP, with its ffmpeg) until
its lease runs out comes back as a zombie after another worker has published. Each time the
video is ready exactly once, its published outputs are complete and play, no lease is left
behind, unpublished epochs are gone, nothing runs ffmpeg after the publish, and the queue is
left empty."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import av
import httpx
import pytest

from tests.support.aws import Moto, wait_for_empty_queue
from tests.support.crash_points import STEPS
from tests.support.processes import VODSTACK, Server, start_split, upload_file
from tests.support.split import SOURCE, cut, split_clip
from tests.support.stack import postgres_database, production_env, query, with_api_key

pytestmark = pytest.mark.postgres

LEASE = 3
CRASHING_WORKER = [sys.executable, "-m", "tests.support.crash_points"]
# Three rungs, in about a second of encoding: each step is reached from inside, so the
# clip need not be long, only encoded in more than one progress report (every 0.5 s).
CLIP = "axm_720p_h264_rot270.mp4"
CLIP_SECONDS = 2


@dataclass
class Stack:
    upload: Server
    play: Server
    moto: Moto
    database: str
    bucket: str
    queue_url: str
    clips: Path  # where the tests' cuts of the shared media are


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> Iterator[Stack]:
    # A message reappears after the lease (and its margin) unless heartbeats hide it again.
    queue_url = moto.queue(max_receive_count=10, visibility=LEASE + 2)
    bucket = moto.bucket()
    root = tmp_path_factory.mktemp("faults")
    with postgres_database() as database:
        env = with_api_key(
            production_env(
                moto,
                database,
                queue_url,
                bucket,
                VODSTACK_LEASE_SECONDS=str(LEASE),
                VODSTACK_HEARTBEAT_SECONDS="1",
                VODSTACK_SWEEP_SECONDS="2",
            )
        )
        with start_split(root, **env) as (upload, play):
            yield Stack(upload, play, moto, database, bucket, queue_url, root)


def upload(stack: Stack) -> str:
    return upload_file(stack.upload, cut(CLIP, CLIP_SECONDS, stack.clips / "clip.mp4"))


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


@pytest.mark.parametrize("step", STEPS)
def test_a_worker_killed_at_each_step(stack: Stack, step: str) -> None:
    video_id = upload(stack)
    doomed = stack.upload.start_worker(step, command=CRASHING_WORKER)
    assert doomed.wait(timeout=90) == -signal.SIGKILL, f"the worker did not reach {step!r}"
    rescuer = stack.upload.start_worker()
    try:
        stack.play.wait_for(video_id, lambda v: v["status"] == "ready", timeout=120)
        wait_for_empty_queue(stack.moto, stack.queue_url)
    finally:
        stop(rescuer)
    events = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
    published = check_recovered(stack, video_id, events)
    encodings = [e for e in events if e["kind"] == "encoding"]
    if step == "published":
        # The kill came after the publish: the redelivered message was deleted unworked.
        assert published == 1
        assert len(encodings) == 1
    else:
        assert published == 2
        started_ffmpeg = step not in ("claimed", "downloaded")
        assert {e["epoch"] for e in encodings} == ({1, 2} if started_ffmpeg else {2})


def test_a_zombie_worker_cannot_touch_the_winners_outputs(stack: Stack) -> None:
    video_id = upload_file(stack.upload, cut(SOURCE, 30, stack.clips / "film.webm"))
    # In one piece, seconds of encoding to pause it in (a zombie part: the test below).
    zombie = stack.upload.start_worker(VODSTACK_CHUNK_SINGLE_BELOW_SECONDS="1e9")
    rescuer = None
    try:
        stack.play.wait_for(video_id, lambda v: v["status"] == "processing" and v["progress"] > 0.1)
        os.killpg(zombie.pid, signal.SIGSTOP)  # the worker and its ffmpeg, as a VM pause
        rescuer = stack.upload.start_worker(
            VODSTACK_CHUNK_SINGLE_BELOW_SECONDS="1e9"
        )  # it takes over once the lease runs out
        stack.play.wait_for(video_id, lambda v: v["status"] == "ready", timeout=120)
        stop(rescuer)
        os.killpg(zombie.pid, signal.SIGCONT)
        # Its next heartbeat (or its publish) finds the lease lost, and it stops the work.
        stack.upload.wait_for_log(zombie, "lease lost on job")
        assert zombie.poll() is None, "the zombie worker must survive and go on"
        events = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
        assert check_recovered(stack, video_id, events) == 2
        takeover = next(e["at"] for e in events if e["kind"] == "claimed" and e["epoch"] == 2)
        assert not [e for e in events if e["epoch"] == 1 and e["at"] > takeover]
    finally:
        if zombie.poll() is None:
            os.killpg(zombie.pid, signal.SIGCONT)
            stop(zombie)
        if rescuer is not None:
            stop(rescuer)


def test_a_zombie_part_cannot_publish_its_chunk(stack: Stack) -> None:
    """A worker paused (with its ffmpeg) a fifth into a chunk, at a named step, comes back
    after another worker has taken its part over and finished the video: it publishes
    nothing, and removes what it wrote. Every part was published exactly once."""
    video_id = upload_file(stack.upload, split_clip(stack.clips))
    # Split: chunks of 6 and 6 s, in two tiers (240p first), and the audio.
    split = ["VODSTACK_CHUNK_SINGLE_BELOW_SECONDS=0", "VODSTACK_FIRST_TIER_HEIGHT=240"]
    zombie = stack.upload.start_worker("part_pause", command=["env", *split, *CRASHING_WORKER])
    rescuer = None
    try:
        stack.upload.wait_for_log(zombie, "pausing at part_pause", timeout=120)
        rescuer = stack.upload.start_worker(command=["env", *split, *VODSTACK, "worker"])
        stack.play.wait_for(video_id, lambda v: v["status"] == "ready", timeout=180)
        stop(rescuer)
        os.killpg(zombie.pid, signal.SIGCONT)
        stack.upload.wait_for_log(zombie, "lease lost on job")
        assert zombie.poll() is None, "the zombie worker must survive and go on"
        events = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
        published = [e["reason"] for e in events if e["kind"] == "ready"]
        assert len(published) == len(set(published)) == 5  # 2 chunks in 2 tiers, the audio
        assert [e["kind"] for e in events].count("assembled") == 1
        taken = [e for e in events if e["kind"] == "claimed" and e["epoch"] == 2]
        assert len(taken) == 1, "only the paused part was done again"
        zombie_name = taken[0]["reason"].split(": attempt")[0]
        assert f"published {zombie_name}" in published
        _wait_for_no_keys(stack, video_id, "a1/", zombie_name)
        wait_for_empty_queue(stack.moto, stack.queue_url)
    finally:
        if zombie.poll() is None:
            os.killpg(zombie.pid, signal.SIGCONT)
            stop(zombie)
        if rescuer is not None:
            stop(rescuer)


def _wait_for_no_keys(stack: Stack, video_id: str, attempt: str, part: str) -> None:
    """Until the zombie's own folders of its chunk are gone (it removes them once it finds
    its lease lost, just after saying so)."""
    index, rungs = part.split()[1], part.split(" at ")[1].split("+")
    deadline = time.monotonic() + 30
    while True:
        listed = stack.moto.s3().list_objects_v2(
            Bucket=stack.bucket, Prefix=f"vod/outputs/{video_id}/"
        )
        keys = [o["Key"] for o in listed.get("Contents", [])]
        left = [k for k in keys for rung in rungs if f"/{rung}/c{index}{attempt}" in k]
        if not left:
            return
        assert time.monotonic() < deadline, f"the zombie's files are still there: {left}"
        time.sleep(0.2)


def check_recovered(stack: Stack, video_id: str, events: list[dict[str, Any]]) -> int:
    """What holds after any fault; returns the published epoch."""
    ready = [e for e in events if e["kind"] == "ready"]
    assert len(ready) == 1, events
    epoch: int = ready[0]["epoch"]
    assert not [e for e in events if e["kind"] == "encoding" and e["epoch"] > epoch]
    (job,) = query(
        stack.database,
        "SELECT status, lease_owner, lease_expires_at, published_epoch FROM jobs"
        " WHERE video_id = %s",
        video_id,
    )
    assert job == {
        "status": "ready",
        "lease_owner": None,
        "lease_expires_at": None,
        "published_epoch": epoch,
    }
    listed = stack.moto.s3().list_objects_v2(Bucket=stack.bucket, Prefix=f"vod/outputs/{video_id}/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert keys
    assert all(k.startswith(f"vod/outputs/{video_id}/e{epoch}/") for k in keys), keys
    check_playable(stack, video_id, len(keys))
    return epoch


def check_playable(stack: Stack, video_id: str, stored: int) -> None:
    """Every file the playlists name is stored, and each rung decodes from start to end."""
    master_url = stack.play.get(f"/v1/videos/{video_id}/playback")["master_url"]
    master = httpx.get(master_url).text
    variants = [line for line in master.splitlines() if line and not line.startswith("#")]
    named = 1  # the master itself
    for variant in variants:
        playlist = httpx.get(master_url.rsplit("/", 1)[0] + "/" + variant).text
        init = playlist.split('URI="', 1)[1].split('"', 1)[0]
        segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
        named += 2 + len(segments)  # the playlist, its init segment and its segments
        data = b"".join(httpx.get(url).raise_for_status().content for url in [init, *segments])
        with av.open(io.BytesIO(data), mode="r") as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames > 0
    # The storyboard: its VTT, and the sheets it names (presigned, as segments are).
    vtt_url = master_url.rsplit("/", 1)[0] + "/storyboard/storyboard.vtt"
    vtt = httpx.get(vtt_url).raise_for_status().text
    sheets = set(re.findall(r"^(\S+)#xywh=", vtt, re.M))
    assert len({urlsplit(s).path for s in sheets}) == len(sheets), "a sheet has two URLs"
    for sheet in sheets:
        assert httpx.get(urljoin(vtt_url, sheet)).raise_for_status().content[:2] == b"\xff\xd8"
    named += 1 + len(sheets)
    # Each rung's I-frame playlist, whose ranges are of the segments counted above.
    named += master.count("#EXT-X-I-FRAME-STREAM-INF:")
    assert named == stored
