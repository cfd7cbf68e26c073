"""An SRT added through the HTTP API, shown by hls.js in headless Chromium: the node test in
tests/browser/captions.test.mjs against a real ``vodstack serve`` and its worker, for a video
encoded in one piece and for one split into chunks, whose timeline starts later: the cue
must be on the video's clock either way."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import media
from tests.e2e.test_browser import _node, _run_node
from tests.support.processes import start_server, upload_file
from tests.support.split import SETTINGS, split_clip

TEST = "an uploaded SRT plays in hls.js with a visible text track"
TEXT = "Hello from an SRT file"
START = 0.5
# From just after the start to well past the video's end: whenever the check looks after
# it, the cue is on.
SRT = f"1\n00:00:00,500 --> 00:00:30,000\n{TEXT}\n"


@pytest.mark.parametrize("split", [False, True], ids=["one piece", "split"])
def test_an_uploaded_srt_shows_in_chromium(tmp_path: Path, split: bool) -> None:
    node = _node()
    env = SETTINGS if split else {}
    clip = split_clip(tmp_path) if split else media("axm_bear_vp9_odd_161x121.webm")
    with start_server(tmp_path, **env) as server:
        video_id = upload_file(server, clip)
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video["error"]
        kinds = [e["kind"] for e in server.get(f"/v1/videos/{video_id}/events")["events"]]
        assert ("split" in kinds) == split, kinds
        added = httpx.post(
            f"{server.url}/v1/videos/{video_id}/captions",
            data={"language": "en", "name": "English"},
            files={"file": ("english.srt", SRT.encode())},
            headers=server.headers,
            timeout=30,
        )
        assert added.status_code == 201, added.text
        _run_node(
            node,
            server,
            TEST,
            CAPTION_VIDEO_ID=video_id,
            CAPTION_TEXT=TEXT,
            CAPTION_START=str(START),
        )
