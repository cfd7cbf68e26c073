"""An SRT added through the HTTP API, shown by hls.js in headless Chromium: the node test in
tests/browser/captions.test.mjs against a real ``vodstack serve`` and its worker."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import media
from tests.e2e.test_browser import _node, _run_node
from tests.support.processes import start_server, upload_file

TEST = "an uploaded SRT plays in hls.js with a visible text track"
TEXT = "Hello from an SRT file"
# From the video's start to well past its end: whenever the check looks, the cue is on.
SRT = f"1\n00:00:00,000 --> 00:00:30,000\n{TEXT}\n"


def test_an_uploaded_srt_shows_in_chromium(tmp_path: Path) -> None:
    node = _node()
    with start_server(tmp_path) as server:
        video_id = upload_file(server, media("axm_bear_vp9_odd_161x121.webm"))
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video["error"]
        added = httpx.post(
            f"{server.url}/v1/videos/{video_id}/captions",
            data={"language": "en", "name": "English"},
            files={"file": ("english.srt", SRT.encode())},
            headers=server.headers,
            timeout=30,
        )
        assert added.status_code == 201, added.text
        _run_node(node, server, TEST, CAPTION_VIDEO_ID=video_id, CAPTION_TEXT=TEXT)
