"""Playback request rate: the playback endpoint and a private video's media playlist (its
token checked on every request) on the all-in-one `vodstack serve`, against the ceiling of
nginx serving the very same playlist bytes as a static file. `wrk` makes the load.

    .venv/bin/python -m bench.play [--clients 64] [--seconds 10] [--json] [--smoke]

Needs `wrk` and `nginx` (`make bench-tools` installs Debian's); without them it exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
from tests.support.processes import Server, free_port, start_server, upload_file

from bench.upload import child_pid, cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "media" / "axm_bear_vp9_odd_161x121.webm"
WRK_THREADS = 2
SMOKE_CLIENTS = 8
SMOKE_SECONDS = 1  # wrk counts whole seconds: the shortest load it runs


@dataclass
class Target:
    name: str
    url: str
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    errors: int = 0  # the two above together
    server_cpu_percent: float = 0.0  # the serving processes' CPU time over the wall time
    vs_nginx: float | None = None


@dataclass
class Report:
    clients: int
    seconds: float
    wrk_threads: int
    cpus: int
    vodstack_processes: int = 1
    nginx_workers: int = 0
    video_id: str = ""
    rung: str = ""
    playlist_bytes: int = 0
    log_bytes_per_request: float = 0.0  # what vodstack serve logs (an access log or not)
    targets: list[Target] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="per target")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_CLIENTS} clients, {SMOKE_SECONDS} s per target",
    )
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds = SMOKE_CLIENTS, SMOKE_SECONDS
    tools = find_tools()
    if isinstance(tools, str):
        print(tools, file=sys.stderr)
        sys.exit(2)
    wrk, nginx = tools
    if not args.clip.is_file():
        sys.exit(f"no clip at {args.clip} (expected ../shared/media beside the repository)")
    report = Report(args.clients, args.seconds, WRK_THREADS, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="vodstack-play-bench-") as scratch:
        run(Path(scratch), args, wrk, nginx, report)
    if args.json:
        print(json.dumps({**asdict(report), "errors": sum(t.errors for t in report.targets)}))
    else:
        print_report(report)
    failed = any(t.errors or not t.requests for t in report.targets)
    sys.exit(1 if failed else 0)


def find_tools() -> tuple[str, str] | str:
    """wrk and nginx, or the reason they cannot be used. Debian puts nginx in /usr/sbin,
    which is not on every user's PATH."""
    wrk = shutil.which("wrk")
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    missing = [name for name, path in (("wrk", wrk), ("nginx", nginx)) if path is None]
    if wrk is None or nginx is None:
        return (
            f"bench/play needs {' and '.join(missing)}, not found: `make bench-tools` "
            "installs Debian's wrk and nginx-light (as root, or with passwordless sudo)"
        )
    return wrk, nginx


def run(scratch: Path, args: argparse.Namespace, wrk: str, nginx: str, report: Report) -> None:
    root = scratch / "vodstack"
    root.mkdir()
    # The all-in-one server: SQLite, a local directory, and its own worker in-process.
    with start_server(root, VODSTACK_ENCODER="libx264") as server:
        video_id = upload_file(server, args.clip)
        server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        urls = private_playback(server, video_id)
        report.video_id = video_id
        report.rung = urls.rung
        report.playlist_bytes = len(urls.playlist)
        vodstack_pids = [child_pid(["serve", "--port", server.url.rsplit(":", 1)[1]])]
        with static_copy(nginx, urls) as (nginx_url, nginx_pids):
            report.nginx_workers = len(nginx_pids) - 1
            report.targets = [
                Target("vodstack: GET playback (token)", urls.playback),
                Target("vodstack: media playlist (token checked)", urls.media),
                Target("nginx: the same playlist, static", nginx_url),
            ]
            log = root / "serve.log"
            logged = log.stat().st_size
            for target in report.targets:
                pids = nginx_pids if target is report.targets[-1] else vodstack_pids
                load(wrk, target, args.clients, args.seconds, pids)
                if target is report.targets[1]:  # the last of vodstack's
                    served = sum(t.requests for t in report.targets[:2])
                    report.log_bytes_per_request = (log.stat().st_size - logged) / served
    ceiling = report.targets[-1].requests_per_second
    for target in report.targets[:-1]:
        target.vs_nginx = target.requests_per_second / ceiling if ceiling else None


@dataclass(frozen=True)
class PlaybackUrls:
    playback: str  # GET /v1/videos/{id}/playback?token=...
    media: str  # a rung's media playlist, with the token in its query
    rung: str
    playlist: bytes  # that playlist's body, as vodstack serves it
    content_type: str


def private_playback(server: Server, video_id: str) -> PlaybackUrls:
    """Make the video private, issue a playback token, and follow the URLs a player would:
    the playback answer's master playlist, then its first rung's media playlist."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as owner:
        owner.patch(f"/v1/videos/{video_id}", json={"visibility": "private"}).raise_for_status()
        issued = owner.post(f"/v1/videos/{video_id}/playback-tokens", json={"expires_in": 86400})
        issued.raise_for_status()
    token = issued.json()["token"]
    with httpx.Client(timeout=30) as viewer:  # no key: only the token
        playback = viewer.get(
            f"{server.url}/v1/videos/{video_id}/playback", params={"token": token}
        )
        playback.raise_for_status()
        playback_url = str(playback.request.url)
        master_url = playback.json()["master_url"]
        master = viewer.get(master_url)
        master.raise_for_status()
        uri = next(
            line.strip()
            for line in master.text.splitlines()
            if line.strip() and not line.startswith("#")
        )
        media_url = urljoin(master_url, uri)
        if "token=" not in media_url:
            raise RuntimeError(f"the master playlist names {uri!r} without the token")
        media = viewer.get(media_url)
        media.raise_for_status()
        # Without the token the playlist is refused: the check is really made.
        refused = viewer.get(media_url.split("?", 1)[0])
        if refused.status_code < 400:
            raise RuntimeError(f"the media playlist played without its token: {refused}")
    rung = urlparse(media_url).path.rsplit("/", 2)[1]
    return PlaybackUrls(playback_url, media_url, rung, media.content, media.headers["content-type"])


@contextmanager
def static_copy(nginx: str, urls: PlaybackUrls) -> Iterator[tuple[str, list[int]]]:
    """nginx serving the playlist's bytes at the same path (and taking the same query),
    as a child process on its own config and a free loopback port; its URL and its
    processes (the master, then its workers)."""
    with tempfile.TemporaryDirectory(prefix="vodstack-play-nginx-") as scratch:
        folder = Path(scratch)
        # Started by root, nginx's workers run as nobody: they must be able to read it.
        folder.chmod(0o755)
        with _nginx(folder, nginx, urls) as started:
            yield started


@contextmanager
def _nginx(folder: Path, nginx: str, urls: PlaybackUrls) -> Iterator[tuple[str, list[int]]]:
    path = urlparse(urls.media).path
    www = folder / "www"
    (www / path.lstrip("/")).parent.mkdir(parents=True)
    (www / path.lstrip("/")).write_bytes(urls.playlist)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir()
    port = free_port()
    media_type = urls.content_type.split(";")[0].strip()
    config = folder / "nginx.conf"
    config.write_text(
        f"""daemon off;
master_process on;
worker_processes auto;
pid {folder}/nginx.pid;
error_log stderr;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    types {{ {media_type} m3u8; }}
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location / {{ add_header Cache-Control "private, max-age=10"; }}
    }}
}}
"""
    )
    log = (folder / "nginx.log").open("wb")
    process = subprocess.Popen(
        [nginx, "-p", str(folder), "-c", str(config), "-e", "stderr"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: no worker outlives the benchmark
    )
    url = f"http://127.0.0.1:{port}{path}?{urlparse(urls.media).query}"
    try:
        served = _wait_for_nginx(url, process, folder / "nginx.log")
        if served != urls.playlist:
            raise RuntimeError("nginx does not serve the same bytes as vodstack")
        yield url, [process.pid, *_children(process.pid)]
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: the workers finish, then exit
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_for_nginx(url: str, process: subprocess.Popen[bytes], log: Path) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            response = httpx.get(url, timeout=1)
        except httpx.TransportError:
            if process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise RuntimeError(f"nginx did not start: {log.read_text()[-2000:]}") from None
        if response.status_code != 200:
            raise RuntimeError(f"nginx answered {response.status_code}: {log.read_text()[-2000:]}")
        return response.content


def _children(pid: int) -> list[int]:
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


def load(wrk: str, target: Target, clients: int, seconds: float, pids: list[int]) -> None:
    cpu = sum(cpu_seconds(pid) for pid in pids)
    started = time.perf_counter()
    done = subprocess.run(
        [
            wrk,
            f"-t{min(WRK_THREADS, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            target.url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    wall = time.perf_counter() - started
    target.server_cpu_percent = 100 * (sum(cpu_seconds(pid) for pid in pids) - cpu) / wall
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {target.url}: {done.stderr or done.stdout}")
    parse_wrk(done.stdout, target)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(output: str, target: Target) -> None:
    """Requests/s, the p50 and p99 of `--latency`'s distribution, and the errors."""

    def number(pattern: str) -> re.Match[str]:
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"no {pattern!r} in wrk's output:\n{output}")
        return found

    def latency(percent: str) -> float:
        found = number(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$")
        return float(found[1]) * _UNITS[found[2]]

    target.requests_per_second = float(number(r"^Requests/sec:\s+([\d.]+)")[1])
    target.requests = int(number(r"^\s+(\d+) requests in ")[1])
    target.p50_ms = latency("50")
    target.p99_ms = latency("99")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    target.non_2xx = int(non_2xx[1]) if non_2xx else 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    target.socket_errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    target.errors = target.non_2xx + target.socket_errors


def print_report(report: Report) -> None:
    print(
        f"play: {report.clients} connections, {report.seconds:g} s per target, "
        f"wrk with {report.wrk_threads} threads, {datetime.now():%Y-%m-%d %H:%M}"
    )
    print(
        f"  a private video ({report.video_id}), its {report.rung} media playlist "
        f"({report.playlist_bytes} bytes)"
    )
    print(
        f"  vodstack serve: {report.vodstack_processes} process, one uvicorn worker on one "
        "event loop (`serve` has no option for more: its --workers are job slots); it "
        f"logged {report.log_bytes_per_request:.0f} bytes per request"
    )
    print(
        f"  nginx: {report.nginx_workers} worker processes (worker_processes auto, "
        f"{report.cpus} CPUs), access log off; wrk shares the same CPUs"
    )
    name_width = max(len(t.name) for t in report.targets)
    print(
        f"  {'target':<{name_width}} {'req/s':>9} {'p50':>9} {'p99':>9} {'errors':>7} "
        f"{'server CPU':>10} {'vs nginx':>9}"
    )
    for t in report.targets:
        ratio = f"{t.vs_nginx:.3f}" if t.vs_nginx is not None else "1"
        print(
            f"  {t.name:<{name_width}} {t.requests_per_second:>9.0f} {t.p50_ms:>7.2f}ms "
            f"{t.p99_ms:>7.2f}ms {t.errors:>7} {t.server_cpu_percent:>9.0f}% {ratio:>9}"
        )


if __name__ == "__main__":
    main()
