"""The load-and-chaos benchmark at CI size: every upload completes, with no overlapping
lease, no double publish and no unpublished epoch left behind, while workers are killed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import media

pytestmark = pytest.mark.postgres


def test_chaos_at_ci_size() -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.chaos",
            "--uploads",
            "10",
            "--workers",
            "2",
            "--kill-probability",
            "0.5",
            "--seed",
            "3",
            "--clip",
            str(clip),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["completed"] == 10
    assert report["kills"] >= 1, "the chaos loop must really kill workers"
    assert report["recovered_jobs"] >= 1
    assert report["overlapping_leases"] == 0
    assert report["double_publishes"] == 0
    assert report["leftover_epochs"] == 0
