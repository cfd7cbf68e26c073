"""Upload throughput: the real `vodstack upload` CLI against boto3's own multipart upload,
to the same S3 endpoint (moto's server on loopback) and the same bucket, with the same part
size and as many parts in flight. Bytes go from the client straight to S3 through presigned
part URLs, so the upload API's own CPU time per GiB should be next to nothing.

    .venv/bin/python -m bench.upload [--size-mib 1024] [--rounds 3] [--json] [--smoke]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from tests.support.aws import CREDENTIALS, Moto, moto_server
from tests.support.processes import VODSTACK, Server, last_json, start_server

from vodstack import cli
from vodstack.domain.uploads import plan_parts
from vodstack.settings import GiB, MiB, Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

GOAL_RATIO = 0.9
SMOKE_SIZE_MIB = 32
WARM_SIZE_MIB = 32
WRITE_CHUNK = 8 * MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")
# What `vodstack upload` uses unless told otherwise: the server's default part size (the
# settings' production default, not the 5 MiB the test helpers set) and the CLI's default
# number of parts in flight. boto3 gets the same.
PART_SIZE = int(Settings.model_fields["part_size"].default)
CLI_CONCURRENCY = int(inspect.signature(cli.upload).parameters["concurrency"].default)
MAX_UPLOAD = int(Settings.model_fields["max_upload_bytes"].default)


@dataclass
class Run:
    tool: str
    seconds: float
    mib_per_s: float
    client_cpu_seconds: float
    moto_cpu_seconds: float
    api_cpu_seconds: float


@dataclass
class Report:
    size_mib: int
    part_size_mib: float
    concurrency: int
    runs: list[Run] = field(default_factory=list)
    cli_mib_per_s: float = 0.0
    boto3_mib_per_s: float = 0.0
    ratio: float = 0.0
    goal_ratio: float = GOAL_RATIO
    goal_met: bool = False
    enforced: bool = True
    boto3_checksums: str = "none"
    api_cpu_seconds: float = 0.0
    api_cpu_seconds_per_gib: float = 0.0
    cli_startup_seconds: float = 0.0
    server_part_size_mib: float = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the file sent")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of one upload each, alternating order"
    )
    parser.add_argument(
        "--boto3-checksums",
        action="store_true",
        help="let boto3 add its default CRC32 checksums (moto then joins the parts far "
        "faster than for an upload created without one, as vodstack's are)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--smoke", action="store_true", help=f"{SMOKE_SIZE_MIB} MiB, goal not enforced"
    )
    args = parser.parse_args()
    if args.smoke:
        args.size_mib = SMOKE_SIZE_MIB
        args.rounds = 1
    os.environ.update(CREDENTIALS)
    report = Report(
        size_mib=args.size_mib,
        part_size_mib=PART_SIZE / MiB,
        concurrency=CLI_CONCURRENCY,
        enforced=not args.smoke,
        boto3_checksums="CRC32" if args.boto3_checksums else "none",
    )
    with tempfile.TemporaryDirectory(prefix="vodstack-upload-bench-") as scratch:
        run(Path(scratch), args, report)
    if args.json:
        print(json.dumps(asdict(report)))
    else:
        print_report(report)
    sys.exit(0 if report.goal_met or not report.enforced else 1)


def run(scratch: Path, args: argparse.Namespace, report: Report) -> None:
    size = args.size_mib * MiB
    expected_part_size = plan_parts(size, PART_SIZE, MAX_UPLOAD).part_size
    big = write_random_file(scratch / "upload.bin", size)
    warm = write_random_file(scratch / "warm.bin", min(WARM_SIZE_MIB, args.size_mib) * MiB)
    with moto_server() as moto, backend(scratch, moto) as (server, bucket, s3, pids):
        # vodstack creates its multipart uploads without a checksum algorithm; so does boto3
        # unless it adds its own CRC32s. Same request, same work for S3: moto in particular
        # joins an upload without one about twice as slowly (it builds the whole object a
        # second time for a CRC64NVME).
        boto = boto3.client(
            "s3",
            endpoint_url=moto.endpoint,
            region_name="us-east-1",
            config=Config(
                request_checksum_calculation=(
                    "when_supported" if args.boto3_checksums else "when_required"
                )
            ),
        )
        transfer = TransferConfig(
            multipart_threshold=expected_part_size,
            multipart_chunksize=expected_part_size,
            max_concurrency=CLI_CONCURRENCY,
            use_threads=True,
        )
        # Warm-up, not counted: moto's first multipart upload of this size (its first one
        # is much slower: memory for the parts and the joined object is fresh from the
        # kernel), the server's first requests, the page cache for the CLI's imports.
        send_boto3(boto, bucket, big, transfer, pids)
        empty_bucket(s3, bucket)
        send_cli(server, warm, pids)
        empty_bucket(s3, bucket)
        report.cli_startup_seconds = cli_startup(server)

        # Rounds alternate which goes first (b a, a b, ...), so drift cancels out.
        for round_number in range(args.rounds):
            order = ("boto3", "cli") if round_number % 2 == 0 else ("cli", "boto3")
            for tool in order:
                if tool == "boto3":
                    report.runs.append(send_boto3(boto, bucket, big, transfer, pids))
                else:
                    cli_run, upload_id = send_cli(server, big, pids)
                    report.runs.append(cli_run)
                    state = httpx.get(
                        f"{server.url}/v1/uploads/{upload_id}", headers=server.headers, timeout=30
                    ).json()
                    report.server_part_size_mib = state["part_size"] / MiB
                empty_bucket(s3, bucket)

    cli_runs = [r for r in report.runs if r.tool == "vodstack CLI"]
    boto_runs = [r for r in report.runs if r.tool == "boto3"]
    # Medians: moto's own time for the same upload varies by a third from run to run.
    report.cli_mib_per_s = args.size_mib / statistics.median(r.seconds for r in cli_runs)
    report.boto3_mib_per_s = args.size_mib / statistics.median(r.seconds for r in boto_runs)
    report.ratio = report.cli_mib_per_s / report.boto3_mib_per_s
    report.goal_met = report.ratio >= GOAL_RATIO
    report.api_cpu_seconds = statistics.median(r.api_cpu_seconds for r in cli_runs)
    report.api_cpu_seconds_per_gib = report.api_cpu_seconds / (size / GiB)


@dataclass(frozen=True)
class Pids:
    server: int
    moto: int


@contextmanager
def backend(scratch: Path, moto: Moto) -> Iterator[tuple[Server, str, S3Client, Pids]]:
    """`vodstack serve --role upload` on SQLite, its storage a bucket on moto's S3."""
    bucket = moto.bucket()
    env = {
        **CREDENTIALS,
        "VODSTACK_DATABASE_URL": f"sqlite:///{scratch / 'vodstack.db'}",
        "VODSTACK_STORAGE_URL": f"s3://{bucket}/vod",
        "VODSTACK_S3_ENDPOINT_URL": moto.endpoint,
        "VODSTACK_SECRET_KEY": "one key shared by every process",
        "VODSTACK_PART_SIZE": str(PART_SIZE),
    }
    root = scratch / "server"
    root.mkdir()
    with start_server(root, "--role", "upload", **env) as server:
        port = server.url.rsplit(":", 1)[1]
        pids = Pids(
            server=child_pid(["serve", "--port", port]),
            moto=child_pid(["moto.server", moto.endpoint.rsplit(":", 1)[1]]),
        )
        yield server, bucket, moto.s3(), pids


def child_pid(words: list[str]) -> int:
    """The pid of this process's child whose command line holds every one of ``words``."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and all(w.encode() in argv for w in words):
            return int(entry.name)
    raise RuntimeError(f"no child process with {words} in its command line")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def write_random_file(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(WRITE_CHUNK, left))
            out.write(chunk)
            left -= len(chunk)
    return path


def send_boto3(s3: S3Client, bucket: str, file: Path, transfer: TransferConfig, pids: Pids) -> Run:
    key = f"boto3/{file.name}"
    before = snapshot(pids)
    cpu = time.process_time()
    started = time.perf_counter()
    s3.upload_file(str(file), bucket, key, Config=transfer)
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - cpu
    if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] != file.stat().st_size:
        raise RuntimeError("boto3 did not upload the whole file")
    return measured("boto3", file, seconds, client_cpu, before, pids)


def send_cli(server: Server, file: Path, pids: Pids) -> tuple[Run, str]:
    """`vodstack upload FILE --server URL --json`, a new process as a user would run it."""
    before = snapshot(pids)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*VODSTACK, "upload", str(file), "--server", server.url, "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"vodstack upload failed: {done.stderr}")
    result = last_json(done.stdout)
    if result["size"] != file.stat().st_size or result["status"] != "queued":
        raise RuntimeError(f"vodstack upload did not upload the whole file: {result}")
    client_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return measured("vodstack CLI", file, seconds, client_cpu, before, pids), result["upload_id"]


def cli_startup(server: Server) -> float:
    """Wall time of a CLI command that does next to nothing: the share of (a) that is the
    interpreter starting and importing, not sending."""
    started = time.perf_counter()
    subprocess.run([*VODSTACK, "upload", "--help"], env=server.env, capture_output=True, check=True)
    return time.perf_counter() - started


def snapshot(pids: Pids) -> tuple[float, float]:
    return cpu_seconds(pids.server), cpu_seconds(pids.moto)


def measured(
    tool: str,
    file: Path,
    seconds: float,
    client_cpu: float,
    before: tuple[float, float],
    pids: Pids,
) -> Run:
    server_cpu, moto_cpu = snapshot(pids)
    return Run(
        tool=tool,
        seconds=seconds,
        mib_per_s=file.stat().st_size / MiB / seconds,
        client_cpu_seconds=client_cpu,
        moto_cpu_seconds=moto_cpu - before[1],
        api_cpu_seconds=server_cpu - before[0],
    )


def empty_bucket(s3: S3Client, bucket: str) -> None:
    """Every object and unfinished multipart upload, so moto's memory stays flat."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[Any] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def print_report(report: Report) -> None:
    print(
        f"upload: one {report.size_mib} MiB file to S3 (moto's server on loopback), "
        f"{datetime.now():%Y-%m-%d %H:%M}"
    )
    print(
        f"  both send {report.part_size_mib:g} MiB parts, {report.concurrency} at a time: "
        f"the CLI's defaults (server part size {report.server_part_size_mib:g} MiB, "
        f"`vodstack upload --concurrency {report.concurrency}`), mirrored in boto3's "
        f"TransferConfig"
    )
    if report.boto3_checksums == "none":
        print(
            "  boto3 adds no checksums (request_checksum_calculation=when_required): its "
            "multipart upload is created as vodstack's is, so S3 does the same work"
        )
    else:
        print(
            f"  boto3 adds its default {report.boto3_checksums} checksums, vodstack none: "
            "moto joins such an upload far faster, so (b) is flattered"
        )
    print(
        f"  {'run':<14} {'seconds':>8} {'MiB/s':>8} {'client CPU':>11} {'moto CPU':>9} "
        f"{'API CPU':>8}"
    )
    for r in report.runs:
        print(
            f"  {r.tool:<14} {r.seconds:>8.2f} {r.mib_per_s:>8.1f} {r.client_cpu_seconds:>10.2f}s"
            f" {r.moto_cpu_seconds:>8.2f}s {r.api_cpu_seconds:>7.3f}s"
        )
    verdict = "ok" if report.goal_met else ("MISSED" if report.enforced else "not enforced")
    print(
        f"  (a) vodstack CLI  {report.cli_mib_per_s:8.1f} MiB/s (median run, wall clock, start-up"
    )
    print(f"                    included: {report.cli_startup_seconds:.2f} s for `upload --help`)")
    print(f"  (b) boto3         {report.boto3_mib_per_s:8.1f} MiB/s (median run)")
    print(f"  ratio a/b         {report.ratio:8.2f}   goal >= {report.goal_ratio}: {verdict}")
    print(
        f"  upload API CPU during (a): {report.api_cpu_seconds:.3f} s, "
        f"{report.api_cpu_seconds_per_gib:.3f} s per GiB sent"
    )


if __name__ == "__main__":
    main()
