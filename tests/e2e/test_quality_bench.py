"""The rate-control benchmark at smoke size: three strategies' ladders of one short source,
each rung with its bytes, bitrates and score."""

from __future__ import annotations

from tests.support.processes import run_bench


def test_quality_bench_at_smoke_size() -> None:
    report = run_bench("quality", "--smoke", timeout=120)
    assert report["enforced"] is False
    assert report["missed_goals"] == []
    [row] = report["sources"]
    assert set(row["strategies"]) == {"fixed", "peertube", "vodstack"}
    rung_names = None
    for strategy, done in row["strategies"].items():
        names = [rung["name"] for rung in done["rungs"]]
        assert names, strategy
        # The same sizes in every strategy: only the rate control differs.
        assert rung_names in (None, names)
        rung_names = names
        assert done["bytes"] == sum(rung["bytes"] for rung in done["rungs"]) > 0
        assert done["wall"] > 0
        assert done["cpu"] > 0
        for rung in done["rungs"]:
            assert rung["bytes"] > 0
            assert rung["average_bps"] > 0
            assert rung["peak_bps"] > 0
            assert 0 <= rung["score"] <= 100
    assert row["strategies"]["vodstack"]["analysis_wall"] > 0
    assert row["strategies"]["fixed"]["analysis_wall"] == 0
    for strategy in ("peertube", "vodstack"):
        ratios = row["versus_fixed"][strategy]
        assert ratios["bytes_ratio"] > 0
        assert ratios["score_delta_worst"] <= ratios["score_delta_mean"]
        assert report["summary"]["medians"][strategy] == ratios
