"""The web app in headless Chromium: the node tests in tests/browser/ (Playwright) against a
real ``vodstack serve`` with one worker slot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import media
from tests.support.processes import start_server

REPO = Path(__file__).resolve().parents[2]
BROWSER_TESTS = REPO / "tests" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
NODE_MODULES = REPO / "web" / "node_modules"


def test_upload_transcode_and_adaptive_playback_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} and `make test` could not install it "
            "(it runs `apt-get install -y chromium`)"
        )
    node = shutil.which("node")
    assert node is not None, "node is not installed: the browser tests run with `node --test`"
    for needed in ("playwright-core/package.json", "hls.js/dist/hls.min.js"):
        assert (NODE_MODULES / needed).exists(), (
            f"{NODE_MODULES / needed} is missing: run `make` (it runs `npm ci` in web/)"
        )
    clip = media("mdn_tears_of_steel_800x332_vp8_70s.webm")
    # Files rather than the folder: node before 21 and after read folder arguments differently.
    tests = sorted(str(p) for p in BROWSER_TESTS.glob("*.test.mjs"))

    with start_server(tmp_path, "--workers", "1", VODSTACK_ENCODER="libx264") as server:
        run = subprocess.run(
            [node, "--test", "--test-reporter=tap", *tests],
            cwd=REPO,
            env={
                **os.environ,
                "BASE_URL": server.url,
                "API_KEY": server.api_key or "",
                "MEDIA_FILE": str(clip),
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    output = f"{run.stdout}\n{run.stderr}"
    if run.returncode != 0:
        log = (tmp_path / "serve.log").read_text(errors="replace")[-4000:]
        pytest.fail(f"node --test failed ({run.returncode}):\n{output}\n--- serve.log ---\n{log}")
    # A skipped node test exits 0 too; these must really have run.
    assert re.search(r"^ok \d+ ", output, re.MULTILINE), output
    assert "# SKIP" not in output, output
