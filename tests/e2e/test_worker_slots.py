"""Real worker processes on one database: a video is cut into parts for the job slots of
the workers alive when it is planned. One worker of one slot gets the coarse plan; with a
second worker of two slots enrolled, the next video is cut finer; once that worker has
stopped, the plan is coarse again."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

from tests.support.processes import Server, start_server, upload_file
from tests.support.split import SOURCE, cut

SETTINGS = {
    "VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "0",
    "VODSTACK_FIRST_TIER_HEIGHT": "240",
    "VODSTACK_CHUNK_SHORTEST_SECONDS": "6",
    "VODSTACK_LEASE_SECONDS": "4",
    "VODSTACK_HEARTBEAT_SECONDS": "1",
}
COARSE = re.compile(r"3 chunks \(0-6 s, 6-18 s, 18-30(\.\d+)? s\)")
# 30 s on 3 slots: a share of 10 s each, so chunks of one whole segment (the shortest
# allowed here).
FINE = re.compile(r"5 chunks \(0-6 s, 6-12 s, 12-18 s, 18-24 s, \.\.\.\)")


def test_videos_are_cut_for_the_live_workers_slots(tmp_path: Path) -> None:
    clip = cut(SOURCE, 30, tmp_path / "clip.webm")
    with start_server(tmp_path, "--workers", "0", **SETTINGS) as server:
        first = server.start_worker()
        server.wait_for_log(first, "enrolled among the live workers")
        assert COARSE.search(_split_reason(server, upload_file(server, clip)))

        second = server.start_worker("--concurrency", "2")
        server.wait_for_log(second, "enrolled among the live workers")
        assert FINE.search(_split_reason(server, upload_file(server, clip)))

        second.send_signal(signal.SIGTERM)  # it finishes its part, then withdraws
        assert second.wait(timeout=60) == 0
        assert COARSE.search(_split_reason(server, upload_file(server, clip)))


def _split_reason(server: Server, video_id: str, timeout: float = 120) -> str:
    """The reason of the video's ``split`` event, once it is in the timeline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events: list[dict[str, Any]] = server.get(f"/v1/videos/{video_id}/events")["events"]
        for event in events:
            if event["kind"] == "split":
                return str(event["reason"])
        time.sleep(0.2)
    raise AssertionError(f"video {video_id} was not split within {timeout:g} s")
