"""The playback benchmark at smoke size: wrk loads vodstack's playback endpoint, a private
video's media playlist with its token, and nginx serving the same bytes; every request of
every target is answered with success."""

from __future__ import annotations

import pytest
from bench.play import find_tools

from tests.conftest import media
from tests.support.processes import run_bench


def test_play_bench_at_smoke_size() -> None:
    tools = find_tools()
    if isinstance(tools, str):
        pytest.skip(tools)
    clip = media("axm_bear_vp9_odd_161x121.webm")
    report = run_bench("play", "--smoke", "--clip", str(clip))
    targets = report["targets"]
    assert [t["name"].split(":")[0] for t in targets] == ["vodstack", "vodstack", "nginx"]
    for target in targets:
        assert target["requests"] > 0, target
        assert target["requests_per_second"] > 0, target
        assert target["non_2xx"] == 0, target
        assert target["socket_errors"] == 0, target
        assert target["errors"] == 0, target
    assert "token=" in targets[1]["url"], "the media playlist is fetched with its token"
    assert all(t["vs_nginx"] > 0 for t in targets[:2])
    assert report["errors"] == 0
    assert report["nginx_workers"] >= 1
