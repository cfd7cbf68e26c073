"""Load and chaos: N uploads through the real HTTP API, W workers on PostgreSQL, S3 and SQS
(moto's server on loopback), and a chaos loop that SIGKILLs a busy worker with probability p
per job, then starts a new one. An audit that reads only the job timeline, the bucket and
the play API counts what must never happen: two workers acting on one job at once, a video
or a chunk published twice, and a playlist that skips or repeats a segment.

    .venv/bin/python -m bench.chaos [--uploads 100] [--workers 4] [--kill-probability 0.1]
    .venv/bin/python -m bench.chaos --chunked [--seconds 20] [--uploads 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

import httpx
import imageio_ffmpeg
from tests.support.aws import Moto, moto_server
from tests.support.processes import Server, start_split
from tests.support.stack import postgres_database, production_env, query, with_api_key

from bench.ladder import cut
from vodstack.client import VodstackClient
from vodstack.domain.playlist import parse_media_playlist

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_CLIP = MEDIA / "axm_bear_vp9_odd_161x121.webm"
# 800x332 with audio: a 20 s cut is chunks of 6 and 14 s, at 240p first and then 332p, and
# the audio once: five parts, each a job of its own.
CHUNKED_CLIP = MEDIA / "mdn_tears_of_steel_800x332_vp8_70s.webm"
CHUNKED_ENV = {"VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "0", "VODSTACK_FIRST_TIER_HEIGHT": "240"}
_SEGMENT = re.compile(r"seg_(\d+)\.m4s$")


@dataclass
class Report:
    uploads: int
    workers: int
    kill_probability: float
    chunked: bool = False
    clip_seconds: float | None = None  # the cut, in the chunked mode; else the clip as it is
    parts: int = 0  # job rows of split videos' parts
    completed: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    dwell_p50: float = 0.0
    dwell_p95: float = 0.0
    dwell_max: float = 0.0
    kills: int = 0
    recovered_jobs: int = 0  # job rows, parts included, claimed again after a kill and done
    overlapping_leases: int = 0
    double_publishes: int = 0
    leftover_epochs: int = 0
    leftover_attempts: int = 0  # part folders of attempts that were not published
    playlists_checked: int = 0
    playlist_errors: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        clean = not any(
            (
                self.overlapping_leases,
                self.double_publishes,
                self.leftover_epochs,
                self.leftover_attempts,
                self.playlist_errors,
            )
        )
        return self.completed == self.uploads and clean and not self.problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-probability", type=float, default=0.1)
    parser.add_argument("--clip", type=Path, default=None)
    parser.add_argument(
        "--chunked",
        action="store_true",
        help="upload the first --seconds of the clip, split into chunks encoded as parts",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="the cut, with --chunked")
    parser.add_argument(
        "--kill-within",
        type=float,
        default=None,
        help="a drawn claim's worker is killed up to this many seconds after the claim is"
        " seen (default 0.3, and 4 with --chunked, whose parts take seconds each)",
    )
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    args.clip = args.clip or (CHUNKED_CLIP if args.chunked else DEFAULT_CLIP)
    if args.kill_within is None:
        args.kill_within = 4.0 if args.chunked else 0.3
    if not args.clip.is_file():
        sys.exit(f"no clip at {args.clip} (expected ../shared/media beside the repository)")
    chaos = random.Random(args.seed)
    report = Report(args.uploads, args.workers, args.kill_probability, chunked=args.chunked)
    with (
        tempfile.TemporaryDirectory(prefix="vodstack-chaos-") as scratch,
        moto_server() as moto,
        postgres_database("vodstack_chaos") as database,
    ):
        if args.chunked:
            report.clip_seconds = args.seconds
            clip = Path(scratch) / f"cut{args.clip.suffix}"
            args.clip = cut(imageio_ffmpeg.get_ffmpeg_exe(), args.clip, args.seconds, clip)
        run(args, Path(scratch), moto, database, chaos, report)
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        print_report(report)
    sys.exit(0 if report.ok else 1)


def run(
    args: argparse.Namespace,
    scratch: Path,
    moto: Moto,
    database: str,
    chaos: random.Random,
    report: Report,
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    bucket = moto.bucket()
    queue_url = moto.queue(max_receive_count=10, visibility=int(args.lease) + 2)
    env = with_api_key(
        production_env(
            moto,
            database,
            queue_url,
            bucket,
            VODSTACK_LEASE_SECONDS=str(args.lease),
            VODSTACK_HEARTBEAT_SECONDS=str(args.lease / 4),
            VODSTACK_SWEEP_SECONDS="5",
            VODSTACK_MAX_ATTEMPTS="10",
            **(CHUNKED_ENV if args.chunked else {}),
        )
    )
    with start_split(scratch, **env) as (upload, play):
        workers = [upload.start_worker() for _ in range(args.workers)]
        started = time.monotonic()
        video_ids = asyncio.run(
            upload_all(upload.url, env["VODSTACK_API_KEY"], args.clip, args.uploads, scratch)
        )
        report.kills = chaos_loop(
            upload, workers, database, video_ids, args, chaos, started + args.timeout
        )
        report.wall_seconds = time.monotonic() - started
        for worker in upload.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        evidence = gather(database, moto, bucket, video_ids)
        audit(report, evidence, video_ids)
        check_playlists(report, play, evidence, video_ids)


async def upload_all(server: str, key: str, clip: Path, count: int, scratch: Path) -> list[str]:
    """Each upload is its own file, as each user's is; eight at a time."""
    gate = asyncio.Semaphore(8)
    async with VodstackClient(server, key, state_dir=scratch / "client") as client:

        async def one(i: int) -> str:
            copy = scratch / f"clip-{i:04d}{clip.suffix}"
            shutil.copyfile(clip, copy)
            async with gate:
                result = await client.upload(copy, title=f"chaos {i}")
            return result.video_id

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def chaos_loop(
    upload: Server,
    workers: list[subprocess.Popen[bytes]],
    database: str,
    video_ids: list[str],
    args: argparse.Namespace,
    chaos: random.Random,
    deadline: float,
) -> int:
    """Each claim (a job row's epoch: a video's, or one of its parts') draws once: with
    probability p its worker is killed up to ``--kill-within`` seconds later, if it still
    holds that claim then, and a new worker takes its place. A video is done when its own
    job is."""
    drawn: set[tuple[str, int]] = set()
    planned: list[tuple[float, tuple[str, int], str]] = []  # when, the claim, its holder
    kills = 0
    pending = set(video_ids)
    while pending and time.monotonic() < deadline:
        rows = query(
            database,
            "SELECT id, video_id, part, epoch, status, lease_owner FROM jobs"
            " WHERE video_id = ANY(%s)",
            list(pending),
        )
        held = {
            (r["id"], r["epoch"]): r["lease_owner"] for r in rows if r["status"] == "processing"
        }
        for row in rows:
            if row["part"] == "" and row["status"] in ("ready", "failed"):
                pending.discard(row["video_id"])
        for claim, owner in held.items():
            if claim not in drawn:
                drawn.add(claim)
                if chaos.random() < args.kill_probability:
                    at = time.monotonic() + chaos.uniform(0, args.kill_within)
                    planned.append((at, claim, owner or ""))
        now = time.monotonic()
        for due in [p for p in planned if p[0] <= now]:
            planned.remove(due)
            _, claim, owner = due
            kills += held.get(claim) == owner and _kill(upload, workers, owner)
        time.sleep(0.05)
    return kills


def _kill(upload: Server, workers: list[subprocess.Popen[bytes]], owner: str) -> bool:
    """SIGKILL the worker process (and its ffmpeg) that ``owner`` is a slot of, and start
    another in its place."""
    victim = next((w for w in workers if f"-{w.pid}-" in owner), None)
    if victim is None or victim.poll() is not None:
        return False
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    workers[workers.index(victim)] = upload.start_worker()
    return True


# --- the audit ----------------------------------------------------------------------------


@dataclass
class Evidence:
    """What happened, read once: the timeline by job row, the job rows by video (a video's
    own job and its parts), the videos, and each video's stored outputs (keys relative to
    ``outputs/<video>/``)."""

    events: dict[str, list[dict[str, Any]]]
    jobs: dict[str, list[dict[str, Any]]]
    videos: dict[str, dict[str, Any]]
    stored: dict[str, set[str]]

    def own_job(self, video_id: str) -> dict[str, Any] | None:
        return next((j for j in self.jobs.get(video_id, []) if j["part"] == ""), None)

    def parts(self, video_id: str) -> list[dict[str, Any]]:
        return [j for j in self.jobs.get(video_id, []) if j["part"] != ""]


def gather(database: str, moto: Moto, bucket: str, video_ids: list[str]) -> Evidence:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in query(
        database,
        "SELECT job_id, video_id, kind, epoch, worker, at FROM job_events"
        " WHERE video_id = ANY(%s) ORDER BY id",
        video_ids,
    ):
        events[event["job_id"]].append(event)
    jobs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in query(
        database,
        "SELECT id, video_id, part, status, epoch, published_epoch, outputs,"
        " plan IS NOT NULL AS split FROM jobs WHERE video_id = ANY(%s)",
        video_ids,
    ):
        jobs[job["video_id"]].append(job)
    videos = {
        v["id"]: v
        for v in query(database, "SELECT id, status FROM videos WHERE id = ANY(%s)", video_ids)
    }
    pages = moto.s3().get_paginator("list_objects_v2")
    stored: dict[str, set[str]] = {}
    for video_id in video_ids:
        prefix = f"vod/outputs/{video_id}/"
        listed = pages.paginate(Bucket=bucket, Prefix=prefix)
        stored[video_id] = {
            o["Key"].removeprefix(prefix) for page in listed for o in page.get("Contents", [])
        }
    return Evidence(events, jobs, videos, stored)


def audit(report: Report, evidence: Evidence, video_ids: list[str]) -> None:
    """Reads only what happened: the timeline, the job rows and the bucket."""
    dwell: list[float] = []
    for video_id in video_ids:
        job = evidence.own_job(video_id)
        if job is None:
            report.problems.append(f"{video_id}: no job")
            continue
        status = evidence.videos[video_id]["status"]
        report.completed += status == "ready"
        report.failed += status == "failed"
        if (status == "ready") != (job["status"] == "ready"):
            report.problems.append(f"{video_id}: the video is {status}, its job {job['status']}")
        timeline = evidence.events[job["id"]]
        queued = next(e["at"] for e in timeline if e["kind"] == "queued")
        claims = [e for e in timeline if e["kind"] == "claimed"]
        if claims:
            dwell.append(_seconds(claims[0]["at"] - queued))
        for row in evidence.jobs[video_id]:
            audit_job(report, row, evidence.events[row["id"]], ready=status == "ready")
        audit_outputs(report, evidence, video_id, job)
        chunks = {p["part"].partition("t")[0] for p in evidence.parts(video_id)} - {"audio"}
        if report.chunked and len(chunks) < 2:
            report.problems.append(f"{video_id}: {len(chunks)} chunks; the mode needs 2 or more")
    if dwell:
        ordered = sorted(dwell)
        report.dwell_p50 = statistics.median(ordered)
        report.dwell_p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        report.dwell_max = ordered[-1]


def audit_job(
    report: Report, job: dict[str, Any], timeline: list[dict[str, Any]], *, ready: bool
) -> None:
    """One job row: a video's own job, or a part. Each is leased on its own, so leases
    overlap or not per row; each is published once: a part or an unsplit video by one
    ``ready``, a split video by one ``assembled`` (and no ``ready`` of its own)."""
    name = f"{job['video_id']}{'/' + job['part'] if job['part'] else ''}"
    report.parts += job["part"] != ""
    claims = sum(e["kind"] == "claimed" for e in timeline)
    report.recovered_jobs += claims > 1 and job["status"] == "ready"
    report.overlapping_leases += _overlaps(timeline)
    kinds = Counter(e["kind"] for e in timeline)
    once = "assembled" if job["split"] else "ready"
    report.double_publishes += max(0, kinds[once] - 1)
    if job["split"] and kinds["ready"]:
        report.problems.append(f"{name}: a split video's own job was published as a whole")
    if ready and kinds[once] == 0:
        report.problems.append(f"{name}: ready, but no {once!r} in its timeline")
    # The epoch the row says is published is the one its timeline published (a split video:
    # the one it was split at, under which its parts write).
    fixed = next(
        (e["epoch"] for e in timeline if e["kind"] == ("split" if job["split"] else "ready")), None
    )
    if fixed is not None and fixed != job["published_epoch"]:
        report.problems.append(f"{name}: timeline and job disagree on the epoch")
    if job["part"] and job["status"] == "ready":
        # A part's files are in the folder of the attempt that published them: c3a2, a2.
        attempt = f"{'' if job['part'] == 'audio' else job['part'].partition('t')[0]}a"
        folders = {r["folder"] for r in job["outputs"]["rungs"]}
        if folders != {f"{attempt}{job['published_epoch']}"}:
            report.problems.append(
                f"{name}: published attempt {job['published_epoch']}, listed {folders}"
            )


def audit_outputs(report: Report, evidence: Evidence, video_id: str, job: dict[str, Any]) -> None:
    """Only the published epoch is left; in a split video's, only each part's published
    attempt: earlier attempts' folders (``c3a1`` once ``c3a2`` is published) are gone."""
    stored = evidence.stored[video_id]
    published = f"e{job['published_epoch']}"
    report.leftover_epochs += len({key.split("/", 1)[0] for key in stored} - {published})
    if not job["split"]:
        return
    listed = {
        f"{published}/{rung['rung']}/{rung['folder']}"
        for part in evidence.parts(video_id)
        for rung in (part["outputs"] or {}).get("rungs", [])
    }
    # A chunk of the lowest rung lists its storyboard's sheets too: ``c3a2/sheet_000.jpg``.
    listed |= {
        f"{published}/storyboard/{tile[1].rsplit('/', 1)[0]}"
        for part in evidence.parts(video_id)
        for tile in (part["outputs"] or {}).get("tiles", [])
    }
    folders = {key.rsplit("/", 1)[0] for key in stored if key.startswith(f"{published}/")}
    report.leftover_attempts += len(folders - listed)


def _overlaps(timeline: list[dict[str, Any]]) -> int:
    """Acts of an epoch's worker after the next epoch was claimed: two workers at once."""
    claimed_at = {e["epoch"]: e["at"] for e in timeline if e["kind"] == "claimed"}
    count = 0
    for event in timeline:
        later = claimed_at.get(event["epoch"] + 1)
        if event["worker"] and event["epoch"] and later is not None and event["at"] > later:
            count += 1
    return count


def _seconds(delta: Any) -> float:
    return float(delta.total_seconds())


# --- the playlists, as players get them ----------------------------------------------------


def check_playlists(report: Report, play: Server, evidence: Evidence, video_ids: list[str]) -> None:
    """Every ready video's media playlists, through the play API: each lists its segments
    0..n-1 once each (a split video's: every segment its parts published), ends, and names
    only stored files."""
    with httpx.Client(headers=play.headers, timeout=10) as http:
        for video_id in video_ids:
            if evidence.videos[video_id]["status"] != "ready":
                continue
            try:
                errors = _video_playlists(report, http, play.url, evidence, video_id)
            except httpx.HTTPError as exc:
                errors = [f"the play API failed: {exc}"]
            for error in errors:
                report.playlist_errors += 1
                report.problems.append(f"{video_id}: {error}")


def _video_playlists(
    report: Report, http: httpx.Client, base: str, evidence: Evidence, video_id: str
) -> list[str]:
    playback = http.get(f"{base}/v1/videos/{video_id}/playback").raise_for_status().json()
    master_url = playback["master_url"]
    master = http.get(master_url).raise_for_status().text
    children = [
        *(line for line in master.splitlines() if line and not line.startswith("#")),
        *re.findall(r'#EXT-X-MEDIA:.*URI="([^"]+)"', master),
    ]
    published: Counter[str] = Counter()  # a split video's segments, by rung
    for part in evidence.parts(video_id):
        for rung in (part["outputs"] or {}).get("rungs", []):
            published[rung["rung"]] += len(rung["segments"])
    errors: list[str] = []
    left_out = set(published) - {_folder_of(uri) for uri in children}
    if left_out:
        errors.append(f"the master playlist leaves out {sorted(left_out)}")
    for uri in children:
        url = urljoin(master_url, uri)
        report.playlists_checked += 1
        text = http.get(url).raise_for_status().text
        found = playlist_errors(text, url, video_id, evidence, published.get(_folder_of(uri)))
        errors += [f"{_folder_of(uri)}: {e}" for e in found]
    return errors


def playlist_errors(
    text: str, url: str, video_id: str, evidence: Evidence, published: int | None = None
) -> list[str]:
    """What is wrong with a media playlist fetched from ``url``; ``published``: how many
    segments its rendition's parts published, which it must list, all of them."""
    playlist = parse_media_playlist(text)
    errors = [] if playlist.ended else ["no ENDLIST"]
    keys = [_stored_key(urljoin(url, s.uri), video_id) for s in playlist.segments]
    numbers = [int(m.group(1)) if (m := _SEGMENT.search(k)) else -1 for k in keys]
    if not numbers or numbers != list(range(len(numbers))):
        duplicates = sorted(n for n, c in Counter(numbers).items() if c > 1)
        errors.append(f"segments {numbers}, not 0..n-1 once each (twice: {duplicates})")
    if published is not None and len(numbers) != published:
        errors.append(f"{len(numbers)} segments listed of the {published} published")
    if playlist.map_uri is not None:
        keys.append(_stored_key(urljoin(url, playlist.map_uri), video_id))
    missing = [k for k in keys if k not in evidence.stored[video_id]]
    if missing:
        errors.append(f"names {len(missing)} files that are not stored, such as {missing[0]}")
    return errors


def _folder_of(uri: str) -> str:
    """The rendition a media playlist's URI names: ``240p`` of ``240p/index.m3u8?token=``."""
    folders = urlparse(uri).path.split("/")
    return folders[-2] if len(folders) > 1 else ""


def _stored_key(url: str, video_id: str) -> str:
    """The key, relative to the video's outputs, of a file a playlist names: a presigned
    storage URL, or a URL of the play API's."""
    path = unquote(urlparse(url).path)
    for marker in (f"/outputs/{video_id}/", f"/v1/videos/{video_id}/hls/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def print_report(report: Report) -> None:
    mode = f"chunked, {report.clip_seconds:g} s clips" if report.chunked else "whole clips"
    rows = [
        ("completed", f"{report.completed}/{report.uploads} ({report.failed} failed)"),
        ("wall time", f"{report.wall_seconds:.1f} s"),
        (
            "dwell (queued to claimed)",
            f"p50 {report.dwell_p50:.2f} s, p95 {report.dwell_p95:.2f} s, "
            f"max {report.dwell_max:.2f} s",
        ),
        ("parts (jobs of their own)", str(report.parts)),
        ("workers killed", str(report.kills)),
        ("jobs recovered after a kill", str(report.recovered_jobs)),
        ("overlapping leases", str(report.overlapping_leases)),
        ("double publishes", str(report.double_publishes)),
        ("unpublished epochs left in the bucket", str(report.leftover_epochs)),
        ("unpublished part attempts left", str(report.leftover_attempts)),
        ("playlists checked", str(report.playlists_checked)),
        ("playlists skipping or repeating", str(report.playlist_errors)),
    ]
    print(
        f"chaos: {report.uploads} uploads ({mode}), {report.workers} workers, "
        f"p(kill) = {report.kill_probability} per job, {datetime.now():%Y-%m-%d %H:%M}"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  jobs per second: {report.completed / max(report.wall_seconds, 1e-9):.2f}")
    for problem in report.problems:
        print(f"  problem: {problem}")


if __name__ == "__main__":
    main()
