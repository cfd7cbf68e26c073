"""Playback request rate and segment throughput, side by side in one run:

- the Python ceiling, a bare uvicorn hello-world endpoint in one process;
- vodstack's playback endpoint and a private video's media playlist (its token checked on
  every request) on one `vodstack serve` process, then on N (`--processes`, one per CPU);
- a segment from the local storage directory, sent by vodstack itself, by nginx after its
  cached `auth_request` check (deploy/nginx-playback.conf), and by nginx after vodstack
  checked the token and handed the file over (`X-Accel-Redirect`), against nginx sending
  the same file as a static one;
- nginx serving the very same playlist bytes as a static file;
- the media playlist on `vodstack serve` as a user first runs it, with no setting at all
  (role all, its worker apart, as many HTTP processes as it picks, every request in the
  access log), and the same with `--processes 1` only: the defaults against the tuned
  1-process server above, and against one process.

Each at 64 and 256 connections (`--clients`), with req/s, MiB/s, p50, p99, errors and the
serving processes' CPU. `wrk` makes the load, on the same CPUs.

    .venv/bin/python -m bench.play [--clients 64,256] [--seconds 10] [--json] [--smoke]
    .venv/bin/python -m bench.play --profile 10     # py-spy over the 1-process playlist

Needs `wrk` and `nginx` (`make bench-tools` installs Debian's); without them it exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
from tests.support.processes import (
    Server,
    children,
    command_line,
    descendants,
    free_port,
    serve_pid,
    start_server,
    upload_file,
)

from bench.upload import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
DEFAULT_CLIP = MEDIA / "axm_bear_vp9_odd_161x121.webm"
# A 1080p film: its top rung's segments are the size a viewer's player fetches.
DEFAULT_SEGMENT_CLIP = MEDIA / "moviepy_smpte_1080p25_10s.mp4"
WRK_THREADS = 2
SMOKE_CLIENTS = 8
SMOKE_SECONDS = 1  # wrk counts whole seconds: the shortest load it runs
MiB = 1024 * 1024
# The access-log share the play servers run with here (VODSTACK_ACCESS_LOG_SAMPLE).
ACCESS_LOG_SAMPLE = "0.01"
ACCEL_PREFIX = "/_vodstack_storage/"


@dataclass
class Target:
    name: str
    url: str
    clients: int = 0
    processes: int = 1
    requests_per_second: float = 0.0
    mib_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    errors: int = 0  # the two above together
    server_cpu_percent: float = 0.0  # the serving processes' CPU time over the wall time


@dataclass
class Report:
    clients: list[int]
    seconds: float
    wrk_threads: int
    cpus: int
    processes: int = 1  # the N of the N-process server
    nginx_workers: int = 0
    access_log_sample: float = float(ACCESS_LOG_SAMPLE)
    video_id: str = ""
    rung: str = ""
    playlist_bytes: int = 0
    segment_bytes: int = 0
    log_bytes_per_request: float = 0.0  # what the 1-process server logged, sampled
    defaults_processes: int = 0  # the HTTP processes `vodstack serve` picks by itself
    defaults_log_bytes_per_request: float = 0.0  # what it logged, every request
    targets: list[Target] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)  # what uvicorn's supervisor said
    ratios: dict[str, float | None] = field(default_factory=dict)


def main() -> None:
    args = _arguments()
    tools = find_tools()
    if isinstance(tools, str):
        print(tools, file=sys.stderr)
        sys.exit(2)
    wrk, nginx = tools
    for clip in (args.clip, args.segment_clip):
        if not clip.is_file():
            sys.exit(f"no clip at {clip} (expected ../shared/media beside the repository)")
    report = Report(args.clients, args.seconds, WRK_THREADS, os.cpu_count() or 1)
    report.processes = args.processes
    with tempfile.TemporaryDirectory(prefix="vodstack-play-bench-") as scratch:
        run(Path(scratch), args, wrk, nginx, report)
    report.ratios = ratios(report)
    if args.json:
        print(json.dumps({**asdict(report), "errors": sum(t.errors for t in report.targets)}))
    else:
        print_report(report)
    failed = any(t.errors or not t.requests for t in report.targets) or bool(report.restarts)
    sys.exit(1 if failed else 0)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", default="64,256", help="concurrent connections, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per target")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--segment-clip", type=Path, default=DEFAULT_SEGMENT_CLIP)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--profile",
        type=float,
        metavar="SECONDS",
        help="sample the 1-process server with py-spy while wrk loads its playlist, and "
        "print where its time goes (nothing else is measured)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_CLIENTS} clients, {SMOKE_SECONDS} s per target, the small clip only",
    )
    args = parser.parse_args()
    args.clients = [int(c) for c in str(args.clients).split(",")]
    if args.smoke:
        args.clients, args.seconds = [SMOKE_CLIENTS], SMOKE_SECONDS
        args.segment_clip = args.clip
    return args


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


@dataclass(frozen=True)
class PlaybackUrls:
    playback: str  # GET /v1/videos/{id}/playback?token=...
    media: str  # a rung's media playlist, with the token in its query
    rung: str
    playlist: bytes  # that playlist's body, as vodstack serves it
    content_type: str
    segment: str  # the largest first segment of any rung, with the token


def run(scratch: Path, args: argparse.Namespace, wrk: str, nginx: str, report: Report) -> None:
    root = scratch / "vodstack"
    root.mkdir()
    env = {"VODSTACK_ENCODER": "libx264", "VODSTACK_ACCESS_LOG_SAMPLE": ACCESS_LOG_SAMPLE}
    # The all-in-one server (SQLite, a local directory, its worker in-process) encodes;
    # then play servers on the same data, without a worker, answer.
    with start_server(root, **env) as encoder:
        data = str(encoder.data_dir)
        urls = _published(encoder, args.clip)
        same = args.segment_clip == args.clip
        segment = urls if same else _published(encoder, args.segment_clip)
    with ExitStack() as stack:

        def play(name: str, processes: int, **more: str) -> Server:
            (scratch / name).mkdir()
            return stack.enter_context(
                start_server(
                    scratch / name,
                    *("--role", "play", "--processes", str(processes)),
                    **{**env, "VODSTACK_DATA_DIR": data, "VODSTACK_PROCESSES": str(processes)},
                    **more,
                )
            )

        one = play("one", 1)
        urls, segment = _moved(urls, one), _moved(segment, one)
        report.video_id, report.rung = urls.playback.split("/")[5], urls.rung
        report.playlist_bytes = len(urls.playlist)
        report.segment_bytes = len(httpx.get(segment.segment).content)
        if args.profile:
            profile(wrk, one, urls, args.profile, max(args.clients))
            sys.exit(0)
        hello = stack.enter_context(bare_uvicorn(scratch))
        many = play("many", args.processes, VODSTACK_ACCEL_REDIRECT=ACCEL_PREFIX)
        storage = Path(data) / "objects"
        front = stack.enter_context(front_nginx(scratch, nginx, storage, many, urls, segment))
        report.nginx_workers = len(front.pids) - 1
        log = scratch / "one" / "serve.log"
        _measure(wrk, args, report, (one, many), hello, front, (urls, segment), log)
    _measure_defaults(wrk, scratch, data, urls, args, report)
    for name in ("many", "defaults"):
        said = (scratch / name / "serve.log").read_text(errors="replace").splitlines()
        report.restarts += [line for line in said if "Child process" in line or "died" in line]


DEFAULTS = "vodstack, no settings"
DEFAULTS_ONE = "vodstack, no settings but --processes 1"


def _measure_defaults(
    wrk: str,
    scratch: Path,
    data: str,
    urls: PlaybackUrls,
    args: argparse.Namespace,
    report: Report,
) -> None:
    """The media playlist on `vodstack serve` with no setting but where its data is, then
    with `--processes 1` only; each alone on the machine."""
    for name, serve_args in ((DEFAULTS, ()), (DEFAULTS_ONE, ("--processes", "1"))):
        folder = scratch / ("defaults" if not serve_args else "defaults-1")
        folder.mkdir()
        unset: dict[str, str | None] = {"VODSTACK_PROCESSES": None, "VODSTACK_PART_SIZE": None}
        with start_server(folder, *serve_args, VODSTACK_DATA_DIR=data, **unset) as server:
            pids = _serve_pids(server)
            spawned = [p for p in pids if any(b"spawn_main" in a for a in command_line(p))]
            processes = len(spawned) or 1
            log = folder / "serve.log"
            for clients in args.clients:
                logged = log.stat().st_size
                target = Target(f"{name}: media playlist (token checked)", "", clients, processes)
                target.url = _on(server, urls.media)
                load(wrk, target, clients, args.seconds, pids)
                target.mib_per_second = target.requests_per_second * len(urls.playlist) / MiB
                report.targets.append(target)
                if not serve_args and clients == args.clients[0]:
                    report.defaults_processes = processes
                    written = log.stat().st_size - logged
                    report.defaults_log_bytes_per_request = written / max(1, target.requests)


def _moved(urls: PlaybackUrls, server: Server) -> PlaybackUrls:
    """The same URLs on another server."""
    return dataclasses.replace(
        urls,
        playback=_on(server, urls.playback),
        media=_on(server, urls.media),
        segment=_on(server, urls.segment),
    )


def _published(server: Server, clip: Path) -> PlaybackUrls:
    video_id = upload_file(server, clip)
    video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
    if video["status"] != "ready":
        raise RuntimeError(f"{clip.name} did not become ready: {video.get('error')}")
    return private_playback(server, video_id)


def private_playback(server: Server, video_id: str) -> PlaybackUrls:
    """Make the video private, issue a playback token, and follow the URLs a player would:
    the playback answer's master playlist, then its rungs' media playlists."""
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
        master_url = playback.json()["master_url"]
        master = viewer.get(master_url)
        master.raise_for_status()
        uris = [u.strip() for u in master.text.splitlines() if u.strip() and u[0] != "#"]
        media_urls = [urljoin(master_url, uri) for uri in uris]
        if "token=" not in media_urls[0]:
            raise RuntimeError(f"the master playlist names {uris[0]!r} without the token")
        medias = [viewer.get(url) for url in media_urls]
        # Without the token the playlist is refused: the check is really made.
        refused = viewer.get(media_urls[0].split("?", 1)[0])
        if refused.status_code < 400:
            raise RuntimeError(f"the media playlist played without its token: {refused}")
        segments = [
            _first_segment(url, media.text) for url, media in zip(media_urls, medias, strict=True)
        ]
        sizes = [int(viewer.head(s).headers["content-length"]) for s in segments]
    rung = urlparse(media_urls[0]).path.rsplit("/", 2)[1]
    return PlaybackUrls(
        str(playback.request.url),
        media_urls[0],
        rung,
        medias[0].content,
        medias[0].headers["content-type"],
        segments[sizes.index(max(sizes))],
    )


def _first_segment(playlist_url: str, text: str) -> str:
    uri = next(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return urljoin(playlist_url, uri.strip())


_HELLO = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
"""


@dataclass
class Serving:
    url: str
    pids: list[int]


@contextmanager
def bare_uvicorn(scratch: Path) -> Iterator[Serving]:
    """The ceiling of Python here: uvicorn, as `vodstack serve` runs it (the same event
    loop and HTTP parser), on an ASGI app that only answers "hello"; no access log."""
    folder = scratch / "hello"
    folder.mkdir()
    (folder / "hello_app.py").write_text(_HELLO)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hello_app:app", "--port", str(port), "--no-access-log"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url, process)
        yield Serving(url, [process.pid])
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path | None = None) -> bytes:
    deadline = time.monotonic() + 15
    while True:
        try:
            response = httpx.get(url, timeout=1)
        except httpx.TransportError:
            if process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            said = log.read_text()[-2000:] if log else ""
            raise RuntimeError(f"{url} did not start: {said}") from None
        if response.status_code != 200:
            said = log.read_text()[-2000:] if log else ""
            raise RuntimeError(f"{url} answered {response.status_code}: {said}")
        return response.content


@dataclass
class Front:
    """nginx in front of the N-process server: its own ceilings (static copies of the
    playlist and the segment), segments sent after its cached check
    (deploy/nginx-playback.conf), and segments handed over by vodstack (X-Accel-Redirect)."""

    pids: list[int]
    static_playlist: str
    static_segment: str
    checked_segment: str
    handed_segment: str


@contextmanager
def front_nginx(
    scratch: Path, nginx: str, storage: Path, many: Server, urls: PlaybackUrls, seg: PlaybackUrls
) -> Iterator[Front]:
    folder = scratch / "nginx"
    www = folder / "www"
    playlist_path = urlparse(urls.media).path
    segment = urlparse(seg.segment)
    for path, body in (
        (playlist_path, urls.playlist),
        (segment.path, httpx.get(seg.segment).content),
    ):
        (www / "static" / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (www / "static" / path.lstrip("/")).write_bytes(body)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "access"):
        (folder / temp).mkdir()
    # Started by root, nginx's workers run as nobody: they must be able to read it all.
    for readable in (scratch, folder, storage.parent):
        readable.chmod(0o755)
    checked, handed = free_port(), free_port()
    config = folder / "nginx.conf"
    config.write_text(_nginx_config(folder, www, storage, many.url, checked, handed, urls))
    log = (folder / "nginx.log").open("wb")
    process = subprocess.Popen(
        [nginx, "-p", str(folder), "-c", str(config), "-e", "stderr"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: no worker outlives the benchmark
    )
    query = "?" + segment.query
    front = Front(
        [process.pid],
        f"http://127.0.0.1:{handed}/static{playlist_path}?{urlparse(urls.media).query}",
        f"http://127.0.0.1:{handed}/static{segment.path}{query}",
        f"http://127.0.0.1:{checked}{segment.path}{query}",
        f"http://127.0.0.1:{handed}{segment.path}{query}",
    )
    try:
        if _wait_for(front.static_playlist, process, folder / "nginx.log") != urls.playlist:
            raise RuntimeError("nginx does not serve the same bytes as vodstack")
        expected = httpx.get(seg.segment).content
        for url in (front.checked_segment, front.handed_segment):
            if _wait_for(url, process, folder / "nginx.log") != expected:
                raise RuntimeError(f"{url} is not the segment vodstack serves")
        # Its check is cached by token: no token, or another one, is still refused.
        bare = front.checked_segment.split("?", 1)[0]
        for wrong in (bare, bare + "?token=" + "A" * 40):
            refused = httpx.get(wrong)
            if refused.status_code != 403:
                raise RuntimeError(f"nginx sent a private segment to {wrong}: {refused}")
        front.pids += children(process.pid)
        yield front
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: the workers finish, then exit
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _nginx_config(
    folder: Path,
    www: Path,
    storage: Path,
    upstream: str,
    checked: int,
    handed: int,
    urls: PlaybackUrls,
) -> str:
    """Two servers on one upstream (the N-process vodstack): one with deploy's own
    nginx-playback.conf, included as it is; one that proxies everything to vodstack but
    sends what vodstack hands over, and serves the static copies."""
    media_type = urls.content_type.split(";")[0].strip()
    snippet = ROOT / "deploy" / "nginx-playback.conf"
    return f"""daemon off;
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
    proxy_cache_path {folder}/access keys_zone=vodstack_access:1m max_size=64m inactive=1m;
    types {{ {media_type} m3u8; video/mp4 mp4 m4s; }}
    keepalive_requests 1000000;
    sendfile on;
    upstream vodstack_play {{
        server {urlparse(upstream).netloc};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{checked};
        set $vodstack_storage {storage};
        include {snippet};
        location / {{
            proxy_pass http://vodstack_play;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    server {{
        listen 127.0.0.1:{handed};
        location /static/ {{
            root {www};
            add_header Cache-Control "private, max-age=31536000, immutable";
        }}
        location ~ ^{ACCEL_PREFIX}(?<vodstack_key>.+)$ {{
            internal;
            alias {storage}/$vodstack_key;
        }}
        location / {{
            proxy_pass http://vodstack_play;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def _serve_pids(server: Server) -> list[int]:
    """The `vodstack serve` process of ``server`` and every process under it."""
    pid = serve_pid(server)
    return [pid, *descendants(pid)]


def _on(server: Server, url: str) -> str:
    return urlparse(url)._replace(netloc=urlparse(server.url).netloc).geturl()


def _measure(
    wrk: str,
    args: argparse.Namespace,
    report: Report,
    servers: tuple[Server, Server],
    hello: Serving,
    front: Front,
    files: tuple[PlaybackUrls, PlaybackUrls],
    log: Path,
) -> None:
    one, many = servers
    urls, segment = files
    one_pids, many_pids = _serve_pids(one), _serve_pids(many)
    n = args.processes
    plan = [
        ("python: bare uvicorn hello world", hello.url, hello.pids, 1, 5),
        ("vodstack: GET playback (token)", urls.playback, one_pids, 1, 0),
        ("vodstack: media playlist (token checked)", urls.media, one_pids, 1, len(urls.playlist)),
        ("vodstack: GET playback (token)", _on(many, urls.playback), many_pids, n, 0),
        (
            "vodstack: media playlist (token checked)",
            _on(many, urls.media),
            many_pids,
            n,
            len(urls.playlist),
        ),
        (
            "nginx: the same playlist, static",
            front.static_playlist,
            front.pids,
            0,
            len(urls.playlist),
        ),
        ("vodstack: segment, sent by vodstack", segment.segment, one_pids, 1, report.segment_bytes),
        (
            "nginx: segment, after its cached check",
            front.checked_segment,
            front.pids + many_pids,
            n,
            report.segment_bytes,
        ),
        (
            "nginx: segment, handed over by vodstack",
            front.handed_segment,
            front.pids + many_pids,
            n,
            report.segment_bytes,
        ),
        (
            "nginx: the same segment, static",
            front.static_segment,
            front.pids,
            0,
            report.segment_bytes,
        ),
    ]
    for clients in args.clients:
        logged, served = log.stat().st_size, 0
        for name, url, pids, processes, size in plan:
            target = Target(name, url, clients, processes)
            load(wrk, target, clients, args.seconds, pids)
            target.mib_per_second = target.requests_per_second * size / MiB
            report.targets.append(target)
            served += target.requests if pids is one_pids else 0
        if clients == args.clients[0] and served:
            report.log_bytes_per_request = (log.stat().st_size - logged) / served


def _pick(report: Report, name: str, processes: int, clients: int) -> Target | None:
    for target in report.targets:
        same = target.processes == processes and target.clients == clients
        if same and target.name.startswith(name):
            return target
    return None


def ratios(report: Report) -> dict[str, float | None]:
    """The goals' figures, at the first connection count (64 by default)."""
    clients, n = report.clients[0], report.processes

    def share(a: Target | None, b: Target | None, by: str = "requests_per_second") -> float | None:
        if a is None or b is None or not getattr(b, by):
            return None
        return round(float(getattr(a, by)) / float(getattr(b, by)), 3)

    hello = _pick(report, "python", 1, clients)
    one = _pick(report, "vodstack: media playlist", 1, clients)
    many = _pick(report, "vodstack: media playlist", n, clients)
    static = _pick(report, "nginx: the same segment", 0, clients)
    defaults = _pick(report, DEFAULTS + ":", report.defaults_processes, clients)
    defaults_one = _pick(report, DEFAULTS_ONE, 1, clients)
    best = max(
        (t for t in report.targets if t.clients == clients and t.name.startswith("nginx: segment")),
        key=lambda t: t.mib_per_second,
        default=None,
    )
    return {
        "playlist_vs_bare_uvicorn": share(one, hello),
        "playlist_p99_ms_1_process": None if one is None else one.p99_ms,
        f"playlist_p99_ms_{n}_processes": None if many is None else many.p99_ms,
        f"playlist_{n}_processes_vs_1": share(many, one),
        "playlist_defaults_vs_tuned": share(defaults, one),
        "playlist_defaults_vs_processes_1": share(defaults, defaults_one),
        "segment_via_nginx_vs_static": share(best, static, "mib_per_second"),
        "segment_by_vodstack_vs_static": share(
            _pick(report, "vodstack: segment", 1, clients), static, "mib_per_second"
        ),
    }


def profile(wrk: str, server: Server, urls: PlaybackUrls, seconds: float, clients: int) -> None:
    """py-spy samples the 1-process server while wrk loads the media playlist; prints the
    share of samples in each part of the stack, and the functions that hold the most."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    (pid,) = _serve_pids(server)[:1]
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        sampler = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--duration",
                str(round(seconds) + 1),
                "--output",
                out.name,
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        load(wrk, Target("profiled", urls.media), clients, seconds, [pid])
        sampler.wait(timeout=seconds + 30)
        stacks = Path(out.name).read_text().splitlines()
    print_profile(stacks)


# Where a sample's innermost frames are, by the file that holds them.
_PARTS = (
    ("access log (logging, JSON)", ("logging/", "logs.py", "json/")),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("vodstack: playback service", ("services/playback.py", "domain/")),
    (
        "vodstack: middleware, hot path",
        ("api/middleware.py", "api/hot_path.py", "api/responses.py"),
    ),
    ("FastAPI and Starlette", ("fastapi/", "starlette/", "pydantic")),
    ("uvicorn (HTTP, transport)", ("uvicorn/", "httptools", "h11")),
    ("asyncio event loop", ("asyncio/", "uvloop")),
)


def print_profile(stacks: list[str]) -> None:
    total = 0
    parts: dict[str, int] = {}
    functions: dict[str, int] = {}
    selves: dict[str, int] = {}
    for line in stacks:
        frames, _, count_text = line.strip().rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        names = frames.split(";")
        part = next(
            (
                label
                for frame in reversed(names)
                for label, marks in _PARTS
                if any(m in frame for m in marks)
            ),
            "other",
        )
        parts[part] = parts.get(part, 0) + count
        for name in set(names):
            functions[name] = functions.get(name, 0) + count
        selves[names[-1]] = selves.get(names[-1], 0) + count
    if not total:
        raise RuntimeError("py-spy took no samples (it needs ptrace: run as root)")
    print(f"py-spy: {total} samples of the serving process")
    for label, count in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * count / total:5.1f}%  {label}")
    print("  the functions with the most samples under them:")
    for name, count in sorted(functions.items(), key=lambda kv: -kv[1])[:60]:
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("  the innermost functions (where the time is spent):")
    for name, count in sorted(selves.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {100 * count / total:5.1f}%  {name}")


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):  # gone: a restart, in the server's log
            total += cpu_seconds(pid)
    return total


def load(wrk: str, target: Target, clients: int, seconds: float, pids: list[int]) -> None:
    cpu = _cpu(pids)
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
    target.server_cpu_percent = 100 * (_cpu(pids) - cpu) / wall
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
        f"play: {report.seconds:g} s per target, wrk with {report.wrk_threads} threads on the "
        f"same {report.cpus} CPUs, {datetime.now():%Y-%m-%d %H:%M}"
    )
    print(
        f"  a private video ({report.video_id}), its {report.rung} media playlist "
        f"({report.playlist_bytes} bytes); a segment of {report.segment_bytes} bytes"
    )
    print(
        f"  vodstack serve: 1 process, then {report.processes} (--processes); access log "
        f"sampled at {report.access_log_sample:g}: {report.log_bytes_per_request:.1f} bytes "
        f"logged per request; nginx: {report.nginx_workers} workers, access log off"
    )
    width = max(len(t.name) for t in report.targets)
    print(
        f"  {'target':<{width}} {'procs':>5} {'conns':>5} {'req/s':>8} {'MiB/s':>8} "
        f"{'p50':>9} {'p99':>9} {'errors':>6} {'CPU':>5}"
    )
    for t in report.targets:
        procs = str(t.processes) if t.processes else "-"
        print(
            f"  {t.name:<{width}} {procs:>5} {t.clients:>5} {t.requests_per_second:>8.0f} "
            f"{t.mib_per_second:>8.1f} {t.p50_ms:>7.2f}ms {t.p99_ms:>7.2f}ms {t.errors:>6} "
            f"{t.server_cpu_percent:>4.0f}%"
        )
    _print_defaults(report)
    for name, value in report.ratios.items():
        print(f"  {name}: {value}")
    for line in report.restarts:
        print(f"  restart: {line}")


def _print_defaults(report: Report) -> None:
    """The media playlist's figure as a user first gets it, beside the tuned server's."""
    clients = report.clients[0]
    defaults = _pick(report, DEFAULTS + ":", report.defaults_processes, clients)
    tuned = _pick(report, "vodstack: media playlist", 1, clients)
    one = _pick(report, DEFAULTS_ONE, 1, clients)
    if defaults is None or tuned is None or one is None or not tuned.requests_per_second:
        return
    print(
        f"  media playlist at {clients} connections: `vodstack serve` with no settings "
        f"({report.defaults_processes} processes, every request logged: "
        f"{report.defaults_log_bytes_per_request:.1f} bytes per request) "
        f"{defaults.requests_per_second:,.0f} req/s; tuned (--processes 1, access log sampled "
        f"at {report.access_log_sample:g}) {tuned.requests_per_second:,.0f} req/s; "
        f"defaults over tuned {defaults.requests_per_second / tuned.requests_per_second:.2f}; "
        f"no settings but --processes 1 {one.requests_per_second:,.0f} req/s"
    )


if __name__ == "__main__":
    main()
