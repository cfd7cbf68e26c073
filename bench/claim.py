"""How fast an idle worker hears of a job, and how many claims a second the job store takes.

1. Latency from the `complete` request to the job being claimed by one idle `vodstack worker`
   process, on each backend: SQLite (the database polled every VODSTACK_POLL_SECONDS),
   PostgreSQL (LISTEN/NOTIFY) and PostgreSQL with SQS (moto's server, long polling).
2. Claim throughput: 8 claimers, each with its own connection pool, claiming and publishing
   empty jobs as fast as the database lets them.

    .venv/bin/python -m bench.claim [--jobs 30] [--throughput-jobs 400] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.support.aws import CREDENTIALS, moto_server
from tests.support.db import add_queued_video
from tests.support.processes import start_server
from tests.support.stack import postgres_database, production_env, query, with_api_key

from vodstack.db import sql_stores
from vodstack.db.engine import create_engine
from vodstack.db.migrate import migrate

GOAL_P95_SECONDS = 1.0
BODY = b"not a video: the worker rejects it at once and is idle again"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30, help="completes per backend")
    parser.add_argument("--throughput-jobs", type=int, default=400)
    parser.add_argument("--claimers", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    results: dict[str, Any] = {"latency": {}, "throughput": {}}
    for backend in ("sqlite", "postgres", "postgres+sqs"):
        with backend_env(backend) as env:
            results["latency"][backend] = claim_latency(env, args.jobs)
    for backend in ("sqlite", "postgres"):
        with backend_env(backend) as env:
            results["throughput"][backend] = asyncio.run(
                claim_throughput(env["VODSTACK_DATABASE_URL"], args.throughput_jobs, args.claimers)
            )
    if args.json:
        print(json.dumps(results))
    else:
        print_results(results, args)
    slow = [b for b, r in results["latency"].items() if r["p95"] >= GOAL_P95_SECONDS]
    sys.exit(1 if slow else 0)


@contextmanager
def backend_env(backend: str) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vodstack-claim-")))
        if backend == "sqlite":
            yield {"VODSTACK_DATABASE_URL": f"sqlite:///{scratch / 'bench.db'}"}
            return
        database = stack.enter_context(postgres_database("vodstack_bench"))
        if backend == "postgres":
            yield with_api_key({"VODSTACK_DATABASE_URL": database})
            return
        moto = stack.enter_context(moto_server())
        env = production_env(moto, database, moto.queue(), moto.bucket())
        yield with_api_key(env)


def claim_latency(env: dict[str, str], jobs: int) -> dict[str, float]:
    """One idle worker; each upload completes only once the previous job is settled."""
    with tempfile.TemporaryDirectory(prefix="vodstack-claim-") as scratch:
        root = Path(scratch)
        with start_server(root, "--role", "upload", **env) as server:
            server.start_worker()
            headers = server.headers
            latencies: list[float] = []
            database = env["VODSTACK_DATABASE_URL"]
            for _ in range(jobs + 1):  # the first warms the worker up and is not counted
                video_id, completed_at = complete_one(server.url, headers)
                claimed_at = wait_for_claim(database, video_id)
                latencies.append((claimed_at - completed_at).total_seconds())
                wait_until_settled(database, video_id)
            latencies = sorted(latencies[1:])
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "max": latencies[-1],
    }


def complete_one(url: str, headers: dict[str, str]) -> tuple[str, datetime]:
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        created = client.post("/v1/uploads", json={"filename": "x.mp4", "size": len(BODY)})
        created.raise_for_status()
        upload = created.json()
        part = client.post(f"/v1/uploads/{upload['upload_id']}/parts", json={"part_numbers": [1]})
        sent = httpx.put(part.json()["parts"][0]["url"], content=BODY)
        # From the moment the complete request leaves: the claim may come before the answer.
        completed_at = datetime.now(UTC)
        done = client.post(
            f"/v1/uploads/{upload['upload_id']}/complete",
            json={"parts": [{"part_number": 1, "etag": sent.headers["ETag"]}]},
        )
        done.raise_for_status()
    return str(upload["video_id"]), completed_at


def wait_for_claim(database: str, video_id: str) -> datetime:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _events(database, video_id, "claimed")
        if found:
            return found[0]
        time.sleep(0.005)
    raise TimeoutError(f"video {video_id} was not claimed within 60 s")


def wait_until_settled(database: str, video_id: str) -> None:
    deadline = time.monotonic() + 60
    while not _events(database, video_id, "failed") and time.monotonic() < deadline:
        time.sleep(0.02)


def _events(database: str, video_id: str, kind: str) -> list[datetime]:
    if database.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(
                "SELECT at FROM job_events WHERE video_id = ? AND kind = ?", (video_id, kind)
            ).fetchall()
        return [datetime.fromisoformat(r[0]).replace(tzinfo=UTC) for r in rows]
    found = query(
        database, "SELECT at FROM job_events WHERE video_id = %s AND kind = %s", video_id, kind
    )
    return [r["at"].replace(tzinfo=UTC) for r in found]


async def claim_throughput(database: str, jobs: int, claimers: int) -> dict[str, float]:
    engine = create_engine(database)
    await migrate(engine)
    now = datetime.now(UTC)
    for _ in range(jobs):
        await add_queued_video(sql_stores(engine, 60), now)
    await engine.dispose()
    claimed = 0

    async def claimer(n: int) -> None:
        nonlocal claimed
        own = create_engine(database)
        store = sql_stores(own, lease_seconds=60).jobs
        try:
            while (lease := await store.claim(f"bench-{n}")) is not None:
                await store.publish(lease, [], 0.0, "none")
                claimed += 1
        finally:
            await own.dispose()

    started = time.perf_counter()
    await asyncio.gather(*(claimer(n) for n in range(claimers)))
    elapsed = time.perf_counter() - started
    return {"jobs": claimed, "seconds": elapsed, "per_second": claimed / elapsed}


def print_results(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"claim latency: complete -> claimed by an idle worker, {args.jobs} jobs per backend")
    print(f"  {'backend':<14} {'p50':>8} {'p95':>8} {'max':>8}   goal p95 < {GOAL_P95_SECONDS} s")
    for backend, r in results["latency"].items():
        verdict = "ok" if r["p95"] < GOAL_P95_SECONDS else "MISSED"
        print(f"  {backend:<14} {r['p50']:>7.3f}s {r['p95']:>7.3f}s {r['max']:>7.3f}s   {verdict}")
    print(f"claim throughput: {args.claimers} claimers, claim + publish of empty jobs")
    for backend, r in results["throughput"].items():
        print(
            f"  {backend:<14} {r['per_second']:>8.0f} jobs/s ({r['jobs']} in {r['seconds']:.2f} s)"
        )


if __name__ == "__main__":
    main()
