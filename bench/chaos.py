"""Load and chaos: N uploads through the real HTTP API, W workers on PostgreSQL, S3 and SQS
(moto's server on loopback), and a chaos loop that SIGKILLs a busy worker with probability p
per job, then starts a new one. An audit that reads only the job timeline and the bucket
counts what must never happen: two workers acting on one job at once, and a video published
twice.

    .venv/bin/python -m bench.chaos [--uploads 100] [--workers 4] [--kill-probability 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.aws import Moto, moto_server
from tests.support.processes import Server, start_split
from tests.support.stack import postgres_database, production_env, query, with_api_key

from vodstack.client import VodstackClient

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "axm_bear_vp9_odd_161x121.webm"


@dataclass
class Report:
    uploads: int
    workers: int
    kill_probability: float
    completed: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    dwell_p50: float = 0.0
    dwell_p95: float = 0.0
    dwell_max: float = 0.0
    kills: int = 0
    recovered_jobs: int = 0
    overlapping_leases: int = 0
    double_publishes: int = 0
    leftover_epochs: int = 0
    problems: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-probability", type=float, default=0.1)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not args.clip.is_file():
        sys.exit(f"no clip at {args.clip} (expected ../shared/media beside the repository)")
    chaos = random.Random(args.seed)
    report = Report(args.uploads, args.workers, args.kill_probability)
    with (
        tempfile.TemporaryDirectory(prefix="vodstack-chaos-") as scratch,
        moto_server() as moto,
        postgres_database("vodstack_chaos") as database,
    ):
        run(args, Path(scratch), moto, database, chaos, report)
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        print_report(report)
    ok = report.completed == report.uploads and not report.problems
    sys.exit(0 if ok and report.overlapping_leases == report.double_publishes == 0 else 1)


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
        )
    )
    with start_split(scratch, **env) as (upload, _):
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
        audit(report, database, moto, bucket, video_ids)


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
    """Each claim (a job's epoch) draws once: with probability p its worker is killed a
    moment later, mid-job, and a new worker takes its place."""
    drawn: set[tuple[str, int]] = set()
    kills = 0
    pending = set(video_ids)
    while pending and time.monotonic() < deadline:
        rows = query(
            database,
            "SELECT video_id, epoch, status, lease_owner FROM jobs WHERE video_id = ANY(%s)",
            list(pending),
        )
        for row in rows:
            if row["status"] in ("ready", "failed"):
                pending.discard(row["video_id"])
                continue
            claim = (row["video_id"], row["epoch"])
            if row["status"] != "processing" or claim in drawn:
                continue
            drawn.add(claim)
            if chaos.random() >= args.kill_probability:
                continue
            victim = next((w for w in workers if f"-{w.pid}-" in (row["lease_owner"] or "")), None)
            if victim is None or victim.poll() is not None:
                continue
            time.sleep(chaos.uniform(0, 0.3))
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            kills += 1
            workers[workers.index(victim)] = upload.start_worker()
        time.sleep(0.05)
    return kills


def audit(report: Report, database: str, moto: Moto, bucket: str, video_ids: list[str]) -> None:
    """Reads only what happened: the timeline, the job rows and the bucket."""
    events = query(
        database,
        "SELECT video_id, kind, epoch, worker, at FROM job_events"
        " WHERE video_id = ANY(%s) ORDER BY id",
        video_ids,
    )
    by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_video[event["video_id"]].append(event)
    statuses = {
        r["video_id"]: r
        for r in query(
            database,
            "SELECT video_id, status, published_epoch FROM jobs WHERE video_id = ANY(%s)",
            video_ids,
        )
    }
    dwell: list[float] = []
    s3 = moto.s3()
    for video_id in video_ids:
        timeline = by_video[video_id]
        job = statuses.get(video_id)
        if job is None:
            report.problems.append(f"{video_id}: no job")
            continue
        report.completed += job["status"] == "ready"
        report.failed += job["status"] == "failed"
        claims = [e for e in timeline if e["kind"] == "claimed"]
        report.recovered_jobs += len(claims) > 1 and job["status"] == "ready"
        queued = next(e["at"] for e in timeline if e["kind"] == "queued")
        if claims:
            dwell.append(_seconds(claims[0]["at"] - queued))
        report.overlapping_leases += _overlaps(timeline)
        published = [e for e in timeline if e["kind"] == "ready"]
        report.double_publishes += max(0, len(published) - 1)
        if published and published[0]["epoch"] != job["published_epoch"]:
            report.problems.append(f"{video_id}: timeline and job disagree on the epoch")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"vod/outputs/{video_id}/")
        epochs = {o["Key"].split("/")[3] for o in listed.get("Contents", [])}
        report.leftover_epochs += len(epochs - {f"e{job['published_epoch']}"})
    if dwell:
        ordered = sorted(dwell)
        report.dwell_p50 = statistics.median(ordered)
        report.dwell_p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        report.dwell_max = ordered[-1]


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


def print_report(report: Report) -> None:
    rows = [
        ("completed", f"{report.completed}/{report.uploads} ({report.failed} failed)"),
        ("wall time", f"{report.wall_seconds:.1f} s"),
        (
            "dwell (queued to claimed)",
            f"p50 {report.dwell_p50:.2f} s, p95 {report.dwell_p95:.2f} s, "
            f"max {report.dwell_max:.2f} s",
        ),
        ("workers killed", str(report.kills)),
        ("jobs recovered after a kill", str(report.recovered_jobs)),
        ("overlapping leases", str(report.overlapping_leases)),
        ("double publishes", str(report.double_publishes)),
        ("unpublished epochs left in the bucket", str(report.leftover_epochs)),
    ]
    print(
        f"chaos: {report.uploads} uploads, {report.workers} workers, "
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
