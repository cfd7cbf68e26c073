"""The ladder benchmark in smoke mode: all three ways make the ladder, the job's figures are
read from its real timeline, and every rung is measured against the source."""

from __future__ import annotations

import pytest

from tests.conftest import media
from tests.support.processes import run_bench

pytestmark = pytest.mark.postgres


def test_ladder_bench_smoke() -> None:
    media("mdn_tears_of_steel_800x332_vp8_70s.webm")
    report = run_bench("ladder", "--smoke")
    assert [r.split()[0] for r in report["source"]["rungs"]] == ["1080p", "720p", "480p", "240p"]
    for way in ("vodstack", "bare", "per_rung"):
        assert report[way]["wall"] > 0
        assert report[way]["cpu"] > 0
        assert report[way]["ffmpeg_peak_rss_mib"] > 10, "ffmpeg's peak memory was not caught"
    # The job's stages come from its timeline and add up to its wall time.
    stages = report["vodstack"]["extra"]
    assert sum(stages.values()) == pytest.approx(report["vodstack"]["wall"], rel=1e-6)
    assert all(worker > 50 for worker in report["rss"]["worker_mib"])
    # Encoded at these bitrates, a real film keeps well above 30 dB in every rung.
    assert report["quality"]["metric"] == "psnr"
    assert all(30 < score < 100 for score in report["quality"]["per_rung"].values())
