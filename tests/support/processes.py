"""Real vodstack processes for end-to-end tests: a server, workers, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from vodstack.settings import MiB

VODSTACK = [sys.executable, "-m", "vodstack"]


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_logs: dict[int, Path] = field(default_factory=dict)  # by pid

    def source_of(self, video_id: str) -> Path:
        return self.data_dir / "objects" / "sources" / video_id / "source"

    @property
    def api_key(self) -> str | None:
        """The key this deployment's CLI uses: the environment's, or the embedded admin's."""
        key = self.env.get("VODSTACK_API_KEY")
        admin = self.data_dir / "admin.key"
        return key or (admin.read_text().strip() if admin.is_file() else None)

    @property
    def headers(self) -> dict[str, str]:
        key = self.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str) -> Any:
        """A GET that waits out a backend's brief absence (503), as a client would."""
        for _ in range(60):
            response = httpx.get(f"{self.url}{path}", timeout=10, headers=self.headers)
            if response.status_code != 503:
                break
            time.sleep(0.5)
        response.raise_for_status()
        return response.json()

    def start_worker(
        self,
        *args: str,
        log: Path | None = None,
        command: list[str] | None = None,
        **env_overrides: str,
    ) -> subprocess.Popen[bytes]:
        """A worker process in its own session, so that its process group (the worker and
        its ffmpeg) can be paused or killed as a whole. ``command``: another worker than
        ``vodstack worker`` (one built by a test, say)."""
        path = log or self.data_dir.parent / f"worker{len(self.workers)}.log"
        out = path.open("ab")
        process = subprocess.Popen(
            [*(command or [*VODSTACK, "worker"]), *args],
            env={**self.env, **env_overrides},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(process)
        self.worker_logs[process.pid] = path
        return process

    def wait_for_log(self, worker: subprocess.Popen[bytes], text: str, timeout: float = 60) -> None:
        """Until ``worker`` has logged a line holding ``text``: the sign that it reached a
        step, which is what a test should wait on rather than a guess at how long it takes."""
        path = self.worker_logs[worker.pid]
        deadline = time.monotonic() + timeout
        while text not in path.read_text(errors="replace"):
            if time.monotonic() > deadline:
                pytest.fail(f"the worker never logged {text!r}: {path.read_text()[-2000:]}")
            time.sleep(0.1)

    def wait_for(self, video_id: str, done: Any, timeout: float = 180) -> dict[str, Any]:
        """Poll the video until ``done(video)`` holds; fail with the timeline otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            video: dict[str, Any] = self.get(f"/v1/videos/{video_id}")
            if done(video):
                return video
            if time.monotonic() > deadline:
                events = self.get(f"/v1/videos/{video_id}/events")
                pytest.fail(f"timed out; video: {video}; events: {events}")
            time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def start_server(root: Path, *serve_args: str, **env_overrides: str | None) -> Iterator[Server]:
    """``vodstack serve`` in ``root``; an override of None unsets that variable (say,
    VODSTACK_PROCESSES=None: as many processes as serve picks by default)."""
    port = free_port()
    given = {
        **os.environ,
        "VODSTACK_DATA_DIR": str(root / "data"),
        "VODSTACK_PART_SIZE": str(5 * MiB),
        "XDG_CACHE_HOME": str(root / "cache"),
        # One process, so a test's server is the one process it signals and kills.
        "VODSTACK_PROCESSES": "1",
        **env_overrides,
    }
    env = {name: value for name, value in given.items() if value is not None}
    env.pop("VODSTACK_PUBLIC_URL", None)
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*VODSTACK, "serve", "--port", str(port), *serve_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Server(f"http://127.0.0.1:{port}", root / "data", env)
        try:
            wait_healthy(server.url, process, log_path)
            yield server
        finally:
            for child in [*server.workers, process]:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in [*server.workers, process]:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()


@contextmanager
def start_split(root: Path, **env: str) -> Iterator[tuple[Server, Server]]:
    """The upload role and the play role as two processes on one environment."""
    for role in ("upload", "play"):
        (root / role).mkdir(parents=True, exist_ok=True)
    with (
        start_server(root / "upload", "--role", "upload", **env) as upload,
        start_server(root / "play", "--role", "play", **env) as play,
    ):
        yield upload, play


def upload_file(server: Server, path: Path) -> str:
    """Upload with the real CLI, as a user would; the new video's id."""
    done = run_cli(server, "upload", str(path), "--json")
    assert done.returncode == 0, done.stderr
    video_id: str = last_json(done.stdout)["video_id"]
    return video_id


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"vodstack serve did not start: {log.read_text()}")
        time.sleep(0.2)


def run_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VODSTACK, *args, "--server", server.url],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_bench(name: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``python -m bench.NAME ARGS --json`` as a user would; its report."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return last_json(done.stdout)


def last_json(output: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``: its children, theirs, and so on."""
    return [p for child in children(pid) for p in (child, *descendants(child))]


def command_line(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def serve_pid(server: Server) -> int:
    """The pid of the `vodstack serve` process that listens at ``server``'s port."""
    port = server.url.rsplit(":", 1)[1].encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            argv = command_line(int(entry.name))
            if b"serve" in argv and port in argv:
                return int(entry.name)
    raise RuntimeError(f"no vodstack serve process at {server.url}")
