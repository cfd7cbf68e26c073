"""The load-and-chaos benchmark at CI size, while workers are killed: every upload completes,
with no overlapping lease, no double publish, no unpublished epoch or attempt left behind,
and playlists that list every segment once. Once with whole clips, once with clips split
into chunks that are jobs of their own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import media
from tests.support.processes import run_bench

pytestmark = pytest.mark.postgres


def _clean(report: dict[str, Any], uploads: int) -> None:
    assert report["completed"] == uploads, report["problems"]
    assert report["kills"] >= 1, "the chaos loop must really kill workers"
    assert report["recovered_jobs"] >= 1
    assert report["overlapping_leases"] == 0
    assert report["double_publishes"] == 0
    assert report["leftover_epochs"] == 0
    assert report["leftover_attempts"] == 0
    assert report["playlist_errors"] == 0
    assert report["problems"] == []


def test_chaos_at_ci_size() -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    report = run_bench(
        "chaos",
        *("--uploads", "6", "--workers", "2", "--kill-probability", "0.5", "--seed", "3"),
        *("--clip", str(clip)),
        timeout=600,
    )
    _clean(report, 6)
    assert report["parts"] == 0, "a 1 s clip is encoded whole"
    assert report["playlists_checked"] >= 6


def test_chaos_with_chunked_videos_at_ci_size() -> None:
    """12 s of an 800x332 film with audio: two chunks of 6 s at 240p, then at 332p, and the
    audio; each a job that a worker may be killed in. Two videos: the parts of both are
    taken by either worker, twelve claims for the chaos loop to draw on."""
    clip = media("mdn_tears_of_steel_800x332_vp8_70s.webm")
    report = run_bench(
        "chaos",
        *("--chunked", "--seconds", "12", "--clip", str(clip)),
        *("--uploads", "2", "--workers", "2", "--kill-probability", "0.5", "--seed", "3"),
        timeout=600,
    )
    _clean(report, 2)
    assert report["parts"] == 2 * 5
    assert report["playlists_checked"] == 2 * 3, "240p, 332p and the audio of each video"
