"""The pictures benchmark at smoke size: the storyboard and the thumbnails are measured
beside the encode they follow."""

from __future__ import annotations

from tests.support.processes import run_bench


def test_pictures_bench_at_smoke_size() -> None:
    report = run_bench("pictures", "--smoke")
    assert report["enforced"] is False
    [row] = report["sources"]
    assert 0 < row["storyboard_s"] < row["encode_s"]
    assert row["thumbnail_320_s"] > 0
    assert row["thumbnail_1280_s"] > 0
    assert row["cover_time"] is not None
