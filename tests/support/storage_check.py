"""`vodstack storage check` run as an operator runs it, against a real server's storage:
objects planted and removed behind vodstack's back, straight in the directory or bucket."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tests.support.processes import VODSTACK, Server, upload_file

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Objects(Protocol):
    """The storage under a server, reached without vodstack."""

    def listed(self) -> set[str]: ...

    def put(self, key: str, data: bytes) -> None: ...

    def remove(self, key: str) -> None: ...


@dataclass
class LocalObjects:
    root: Path

    def listed(self) -> set[str]:
        found = {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}
        return {k for k in found if not k.startswith(".")}

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def remove(self, key: str) -> None:
        (self.root / key).unlink()


@dataclass
class S3Objects:
    s3: S3Client
    bucket: str
    prefix: str  # "vod/"

    def listed(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        return {o["Key"][len(self.prefix) :] for p in pages for o in p.get("Contents", [])}

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def remove(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + key)


def storage_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, on the backends ``env`` names, sparing no object for its age."""
    return subprocess.run(
        [*VODSTACK, "storage", "check", *args],
        env={**env, "VODSTACK_STORAGE_CHECK_GRACE_SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def published_epoch(server: Server, video_id: str) -> int:
    master = server.get(f"/v1/videos/{video_id}/playback")["master_url"]
    found = re.search(r"/hls/e([0-9]+)/", master)
    assert found is not None, master
    return int(found[1])


@dataclass
class Damage:
    """What a test did behind vodstack's back."""

    video_id: str
    epoch: int
    lost: str  # the segment removed from the ready video
    orphans: list[str]  # the folders and objects planted, as the check names them


def damage(server: Server, objects: Objects, video_id: str) -> Damage:
    """A zombie's attempt, a video's folder whose row an operator deleted, a stray object;
    and one segment of ``video_id`` (ready) lost."""
    epoch = published_epoch(server, video_id)
    zombie = f"outputs/{video_id}/e{epoch + 7}/"
    gone = f"outputs/{uuid.uuid4().hex}/"
    objects.put(f"{zombie}144p/seg_00000.m4s", b"a zombie's segment")
    objects.put(f"{zombie}144p/init.mp4", b"a zombie's init")
    objects.put(f"{gone}e1/master.m3u8", b"#EXTM3U\n")
    objects.put("stray/notes.txt", b"left by hand")
    segments = sorted(
        k
        for k in objects.listed()
        if k.startswith(f"outputs/{video_id}/e{epoch}/") and re.search(r"/seg_\d+\.m4s$", k)
    )
    lost = segments[len(segments) // 2]
    objects.remove(lost)
    return Damage(video_id, epoch, lost, [zombie, gone, "stray/notes.txt"])


def check_finds(env: dict[str, str], done: Damage, data_dir: Path | None = None) -> dict[str, Any]:
    """The check in words and as JSON: exit 1, each planted orphan and the lost segment
    named, nothing removed; the JSON report."""
    words = storage_check(env)
    assert words.returncode == 1, words.stdout + words.stderr
    relative = done.lost.split(f"/e{done.epoch}/", 1)[1]
    assert f"video {done.video_id} is ready but the segment {relative} is missing" in words.stdout
    for orphan in done.orphans:
        assert f"orphan {orphan}:" in words.stdout, words.stdout
    if data_dir is not None:
        assert str(data_dir) not in words.stdout + words.stderr, "no machine paths"
    as_json = storage_check(env, "--json")
    assert as_json.returncode == 1, as_json.stderr
    report: dict[str, Any] = json.loads(as_json.stdout)
    assert report["clean"] is False
    assert {o["prefix"] for o in report["orphans"]} >= set(done.orphans)
    assert all(o["removed"] == 0 for o in report["orphans"])
    damaged = {d["video_id"]: d for d in report["damaged"]}
    assert [m["key"] for m in damaged[done.video_id]["missing"]] == [done.lost]
    return report


def repair(env: dict[str, str], objects: Objects, done: Damage, healthy: str) -> dict[str, Any]:
    """``--repair``: the orphans go, every file of the healthy video stays, the damaged
    video is queued again."""
    kept = {k for k in objects.listed() if f"/{healthy}/" in k}
    assert kept
    repaired = storage_check(env, "--repair", "--json")
    assert repaired.returncode == 1, repaired.stderr
    report: dict[str, Any] = json.loads(repaired.stdout)
    assert report["repaired"] is True
    planted = {o["prefix"]: o for o in report["orphans"] if o["prefix"] in done.orphans}
    assert all(o["removed"] == o["objects"] > 0 for o in planted.values()), planted
    damaged = {d["video_id"]: d for d in report["damaged"]}
    assert damaged[done.video_id]["requeued_jobs"] == 1
    assert isinstance(report["webhook_deliveries_removed"], int)
    left = objects.listed()
    assert not [k for k in left if any(k.startswith(o) for o in done.orphans)]
    assert kept <= left, "a file a published playlist names was removed"
    return report


def encoded_again(server: Server, objects: Objects, done: Damage) -> None:
    """The damaged video becomes ready again, from a new attempt that has every file."""
    server.wait_for(done.video_id, lambda v: v["status"] == "ready", timeout=240)
    epoch = published_epoch(server, done.video_id)
    assert epoch > done.epoch
    keys = objects.listed()
    assert not [k for k in keys if k.startswith(f"outputs/{done.video_id}/e{done.epoch}/")]
    assert done.lost.replace(f"/e{done.epoch}/", f"/e{epoch}/") in keys


def upload_two(upload: Server, play: Server, clip: Path) -> tuple[str, str]:
    """Two ready videos: one to damage, one that must come through untouched."""
    ids = (upload_file(upload, clip), upload_file(upload, clip))
    for video_id in ids:
        video = play.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video
    return ids
