"""The load-and-chaos benchmark at CI size: every upload completes, with no overlapping
lease, no double publish and no unpublished epoch left behind, while workers are killed."""

from __future__ import annotations

import pytest

from tests.conftest import media
from tests.support.processes import run_bench

pytestmark = pytest.mark.postgres


def test_chaos_at_ci_size() -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    report = run_bench(
        "chaos",
        *("--uploads", "10", "--workers", "2", "--kill-probability", "0.5", "--seed", "3"),
        *("--clip", str(clip)),
        timeout=600,
    )
    assert report["completed"] == 10
    assert report["kills"] >= 1, "the chaos loop must really kill workers"
    assert report["recovered_jobs"] >= 1
    assert report["overlapping_leases"] == 0
    assert report["double_publishes"] == 0
    assert report["leftover_epochs"] == 0
