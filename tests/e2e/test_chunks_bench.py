"""The chunked-encoding benchmark in smoke mode: every figure comes from a real run. The
video was playable before it was ready, and so was the longer one; a real player watched it
while it was playable (tests/e2e/test_browser.py plays a playable video across a chunk
boundary); a chunked and the unchunked run made the ladder; each part's cost was read from
the timeline; and both encodes of the film were scored per segment."""

from __future__ import annotations

import pytest

from tests.conftest import media
from tests.support.processes import run_bench

pytestmark = pytest.mark.postgres


def test_chunks_bench_smoke() -> None:
    media("mdn_tears_of_steel_800x332_vp8_70s.webm")
    report = run_bench("chunks", "--smoke", timeout=600)
    playable = report["playable"]
    assert 0 < playable["to_playable"] < playable["to_ready"]
    assert playable["longer_to_playable"] > 0
    viewer = playable["viewer"]
    if "skipped" not in viewer:
        assert viewer["watched_seconds"] >= 2
        assert viewer["fatal_errors"] == 0
    workers = report["workers"]
    for run in ("one", "unchunked"):
        assert workers[run]["wall"] > 0
        assert workers[run]["cpu"] > 0
    # 12 s in two chunks of 6 s, two tiers, and the audio: 5 parts, each timed.
    assert len(workers["parts"]["order"]) == 5
    assert all(p["seconds"] > 0 for p in workers["parts"]["order"])
    assert workers["stitch_seconds"] > 0
    assert [row["workers"] for row in report["scale"]["rows"]] == [1, 2, 4, 8, 16, 32, 64]
    assert report["scale"]["rows"][0]["speedup"] == pytest.approx(1.0)
    quality = report["quality"]
    assert quality["metric"] == "psnr"
    assert len(quality["chunks"]) == 2
    assert quality["chunks"][0] == [0, 6]
    for scores in quality["rungs"].values():
        assert 30 < scores["whole"] < 100
        assert 30 < scores["chunked"] < 100
        assert scores["boundary_segments"] == [1]
