"""The wheel alone serves the web app: built from the source tree as an sdist carries it (no
web/node_modules, so hls.js comes from the npm registry, checked against the lockfile),
installed into a fresh virtual environment, and started away from any checkout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, wait_healthy

REPO = Path(__file__).resolve().parents[2]
LOCKED = json.loads((REPO / "web" / "package-lock.json").read_text())["packages"]
HLS_VERSION = LOCKED["node_modules/hls.js"]["version"]


def test_the_wheel_carries_the_locked_hls_js_and_serves_the_pages(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "source")
    assert not (source / "web" / "node_modules").exists()
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source))
    (wheel,) = wheels.glob("vodstack-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    _run(str(venv / "bin" / "pip"), "install", "-q", str(wheel))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = {**os.environ, "VODSTACK_DATA_DIR": str(elsewhere / "data")}
    env.pop("VODSTACK_PUBLIC_URL", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "vodstack"), "serve", "--workers", "0", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, log, seconds=60)
        hls = httpx.get(f"{url}/static/vendor/hls.min.js")
        assert hls.status_code == 200, hls.text
        assert hls.headers["content-type"] == "text/javascript; charset=utf-8"
        assert hashlib.sha256(hls.content).digest() == _locked_hls_js_digest()
        for page, script in [("/", "library.js"), ("/videos/" + "ab12" * 8, "player.js")]:
            response = httpx.get(f"{url}{page}")
            assert response.status_code == 200, (page, response.text)
            assert f'src="/static/{script}"' in response.text
    finally:
        server.terminate()
        server.wait(timeout=15)


def _source_tree(target: Path) -> Path:
    """The checkout's files as git knows them (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def _locked_hls_js_digest() -> bytes:
    installed = REPO / "web" / "node_modules" / "hls.js"
    version = json.loads((installed / "package.json").read_text())["version"]
    assert version == HLS_VERSION, "web/node_modules is not the locked hls.js: run `make`"
    return hashlib.sha256((installed / "dist" / "hls.min.js").read_bytes()).digest()


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(command[:3])} failed:\n{done.stderr[-4000:]}"
