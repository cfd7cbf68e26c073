"""The playback benchmark at smoke size: wrk loads the bare uvicorn ceiling, vodstack's
playback endpoint and a private video's media playlist (its token checked) on 1 and 2
processes, a segment sent by vodstack, by nginx after its cached check (deploy's own
nginx-playback.conf) and after vodstack's X-Accel-Redirect handoff, and nginx's static
copies; then the playlist on `vodstack serve` with no settings, and with `--processes 1`
only. The benchmark itself checks that nginx sends the very bytes vodstack does and
refuses the segment without its token or with another; every request is a success."""

from __future__ import annotations

import os

import pytest
from bench.play import find_tools

from tests.conftest import media
from tests.support.processes import run_bench


def test_play_bench_at_smoke_size() -> None:
    tools = find_tools()
    if isinstance(tools, str):
        pytest.skip(tools)
    clip = media("axm_bear_vp9_odd_161x121.webm")
    report = run_bench("play", "--smoke", "--clip", str(clip), "--processes", "2")
    targets = report["targets"]
    names = [(t["name"], t["processes"]) for t in targets]
    assert names == [
        ("python: bare uvicorn hello world", 1),
        ("vodstack: GET playback (token)", 1),
        ("vodstack: media playlist (token checked)", 1),
        ("vodstack: GET playback (token)", 2),
        ("vodstack: media playlist (token checked)", 2),
        ("nginx: the same playlist, static", 0),
        ("vodstack: segment, sent by vodstack", 1),
        ("nginx: segment, after its cached check", 2),
        ("nginx: segment, handed over by vodstack", 2),
        ("nginx: the same segment, static", 0),
        ("vodstack, no settings: media playlist (token checked)", os.cpu_count() or 1),
        ("vodstack, no settings but --processes 1: media playlist (token checked)", 1),
    ]
    for target in targets:
        assert target["requests"] > 0, target
        assert target["non_2xx"] == 0, target
        assert target["socket_errors"] == 0, target
        assert target["clients"] == 8
    assert "token=" in targets[2]["url"], "the media playlist is fetched with its token"
    assert "token=" in targets[7]["url"], "nginx is sent the segment's token"
    assert report["errors"] == 0
    assert report["nginx_workers"] >= 1
    assert set(report["ratios"]) >= {
        "playlist_vs_bare_uvicorn",
        "segment_via_nginx_vs_static",
        "playlist_defaults_vs_tuned",
        "playlist_defaults_vs_processes_1",
    }
    assert report["defaults_log_bytes_per_request"] > 0  # every request, as configured
    assert all(v is not None and v > 0 for v in report["ratios"].values()), report["ratios"]
