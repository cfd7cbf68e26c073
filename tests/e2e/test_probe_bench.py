"""The probe benchmark at smoke size: both ways of probing measured, and each hostile file
refused with its reason."""

from __future__ import annotations

from tests.support.processes import run_bench


def test_probe_bench_at_smoke_size() -> None:
    report = run_bench("probe", "--smoke")
    assert report["enforced"] is False
    [row] = report["probes"]
    assert row["in_process_s"] > 0
    assert row["contained_s"] > 0
    reasons = {r["file"]: r["reason"] for r in report["refusals"]}
    assert "no new picture for 10 h" in reasons["gap-10h.mp4"]
    assert "too large" in reasons["8192x8192.mp4"]
    assert "64 streams" in reasons["64-streams.mkv"]
    assert "playlist" in reasons["playlist.mp4"]
    assert "concat list" in reasons["concat.mp4"]
    assert "less than 50%" in reasons["truncated-30pc.mp4"]
