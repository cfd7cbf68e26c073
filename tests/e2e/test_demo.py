"""`vodstack demo --check` from a fresh data dir: the stack starts, the sample goes through
the HTTP API and the worker, and its playlists and first segments are served."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import VODSTACK, free_port
from vodstack.demo import default_sample


def test_demo_check(tmp_path: Path) -> None:
    if not default_sample().is_file():
        pytest.fail(f"the demo sample is missing at {default_sample()}: run `make test`")
    env = {**os.environ, "VODSTACK_DATA_DIR": str(tmp_path / "data")}
    env.pop("VODSTACK_PUBLIC_URL", None)
    port = str(free_port())

    def demo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VODSTACK, "demo", "--check", "--port", port],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    first = demo()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "check passed" in first.stderr
    assert f"http://127.0.0.1:{port}/videos/" in first.stderr
    again = demo()  # a second run plays the sample it already has
    assert again.returncode == 0, again.stdout + again.stderr
    assert "using the sample uploaded earlier" in again.stderr
