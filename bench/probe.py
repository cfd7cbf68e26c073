"""What containing the probe costs, and what a hostile file costs the probe.

Side by side in one run, per source: the probe in the process that asks (as the worker
once ran it) and in its contained child process (as the worker runs it now), the median of
several runs each, and the difference. Then the hostile files of the tests, built here with
ffmpeg: how long each takes to be refused.

    .venv/bin/python -m bench.probe           # the samples, 7 runs each
    .venv/bin/python -m bench.probe --smoke   # one short sample, 2 runs

Goal: containment adds at most 0.5 s to a probe, and every hostile file is refused within
2 s. Exits 1 when a goal is missed (never with --smoke).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import hostile

from vodstack import errors
from vodstack.adapters.probe import probe, probe_contained
from vodstack.domain.budgets import MediaLimits

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
SAMPLES = (
    "axm_sample_h264_ac3.mkv",
    "mdn_tears_of_steel_800x332_vp8_70s.webm",
    "axm_long_1080p30_6min_lowbitrate.mp4",
    "axm_long_4k60_av1_6min.mp4",
)
MEMORY = 8 * 2**30
MAX_OVERHEAD = 0.5
MAX_REFUSAL = 2.0


def median_seconds(run: Callable[[], object], times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


def contained(path: Path) -> object:
    return asyncio.run(probe_contained(path, MediaLimits(), MEMORY, 60))


def refusal_seconds(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        contained(path)
    except errors.InvalidMedia as exc:
        return time.perf_counter() - started, exc.message
    raise SystemExit(f"{path.name} was not refused")


def hostile_files(folder: Path) -> list[Path]:
    clip = MEDIA / "axm_bear_vp9_odd_161x121.webm"
    whole = hostile.index_first(folder / "whole.mp4")
    return [
        hostile.with_gap(folder / "gap-10h.mp4", 36000),
        hostile.huge_frame(folder / "8192x8192.mp4"),
        hostile.many_streams(folder / "64-streams.mkv"),
        hostile.local_playlist(folder / "playlist.mp4"),
        hostile.concat_list(folder / "concat.mp4", clip),
        hostile.cut(whole, folder / "truncated-30pc.mp4", 0.3),
    ]


def measure(samples: tuple[str, ...], times: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name in samples:
        path = MEDIA / name
        inline = median_seconds(lambda p=path: probe(p), times)  # type: ignore[misc]
        child = median_seconds(lambda p=path: contained(p), times)  # type: ignore[misc]
        rows.append({"source": name, "in_process_s": inline, "contained_s": child})
    refusals: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for path in hostile_files(Path(folder)):
            seconds, reason = refusal_seconds(path)
            refusals.append({"file": path.name, "seconds": seconds, "reason": reason})
    overhead = max(float(r["contained_s"]) - float(r["in_process_s"]) for r in rows)
    slowest = max(float(r["seconds"]) for r in refusals)
    return {
        "probes": rows,
        "refusals": refusals,
        "max_overhead_s": overhead,
        "slowest_refusal_s": slowest,
        "goals_met": overhead <= MAX_OVERHEAD and slowest <= MAX_REFUSAL,
    }


def show(report: dict[str, Any]) -> None:
    print(f"{'source':44} {'in process':>11} {'contained':>10} {'added':>7}")
    for row in report["probes"]:
        added = row["contained_s"] - row["in_process_s"]
        print(
            f"{row['source']:44} {row['in_process_s']:10.3f}s {row['contained_s']:9.3f}s "
            f"{added:6.3f}s"
        )
    print(f"\n{'hostile file':22} {'refused in':>10}  reason")
    for row in report["refusals"]:
        print(f"{row['file']:22} {row['seconds']:9.3f}s  {row['reason']}")
    print(
        f"\ncontainment adds at most {report['max_overhead_s']:.3f} s (goal {MAX_OVERHEAD} s); "
        f"slowest refusal {report['slowest_refusal_s']:.3f} s (goal {MAX_REFUSAL} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short sample, 2 runs")
    parser.add_argument("--json", action="store_true", help="end with the report as JSON")
    args = parser.parse_args()
    if not MEDIA.is_dir():
        raise SystemExit(f"the test media is missing: expected {MEDIA}")
    report = measure(SAMPLES[:1] if args.smoke else SAMPLES, 2 if args.smoke else 7)
    report["enforced"] = not args.smoke
    show(report)
    if args.json:
        print(json.dumps(report))
    if report["enforced"] and not report["goals_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
