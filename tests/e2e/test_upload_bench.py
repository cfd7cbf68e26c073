"""The upload benchmark at smoke size: the real CLI and boto3 both send the file to S3
(moto's server), and the upload API, which never carries the bytes, spends next to no CPU."""

from __future__ import annotations

from tests.support.processes import run_bench


def test_upload_bench_at_smoke_size() -> None:
    report = run_bench("upload", "--smoke")
    assert report["enforced"] is False, "--smoke never enforces the goal"
    assert {r["tool"] for r in report["runs"]} == {"boto3", "vodstack CLI"}
    assert all(r["seconds"] > 0 and r["mib_per_s"] > 0 for r in report["runs"])
    assert report["cli_mib_per_s"] > 0
    assert report["boto3_mib_per_s"] > 0
    assert report["ratio"] > 0
    # The CLI uploaded with the part size that boto3 was given.
    assert report["server_part_size_mib"] == report["part_size_mib"]
    cli_run = next(r for r in report["runs"] if r["tool"] == "vodstack CLI")
    assert 0 <= report["api_cpu_seconds"] < cli_run["seconds"]
    assert report["api_cpu_seconds_per_gib"] >= 0
