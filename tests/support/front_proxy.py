"""deploy/nginx.conf itself, run by a real nginx on a free loopback port in front of real
vodstack servers: its locations and proxy headers as they ship, only the upstreams' and
the listening addresses changed to this machine's (as bench/play runs nginx)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.processes import free_port

DEPLOY_NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


def find_nginx() -> str | None:
    """Debian installs nginx in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def deploy_server_block(upload: str, play: str, port: int) -> str:
    """deploy/nginx.conf with its upstreams pointing at ``upload`` and ``play`` (base URLs)
    and listening on 127.0.0.1:``port``; the rest of it as it is."""
    text = DEPLOY_NGINX.read_text()
    for role, url in (("upload", upload), ("play", play)):
        text, found = re.subn(rf"server {role}:8000;", f"server {urlsplit(url).netloc};", text)
        assert found == 1, f"deploy/nginx.conf has no upstream server {role}:8000"
    text, found = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    assert found == 1, "deploy/nginx.conf does not listen on port 80"
    return text


@contextmanager
def deploy_nginx(folder: Path, upload: str, play: str) -> Iterator[str]:
    """nginx running deploy/nginx.conf in front of ``upload`` and ``play``; its base URL."""
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (make bench-tools installs Debian's)")
    folder.mkdir(parents=True, exist_ok=True)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir(exist_ok=True)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(_main_config(folder, deploy_server_block(upload, play, port)))
    log_path = folder / "nginx.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(config), "-e", "stderr"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: no worker outlives the test
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_listening(url, process, log_path)
            yield url
        finally:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _main_config(folder: Path, server: str) -> str:
    return f"""daemon off;
master_process on;
worker_processes 1;
pid {folder}/nginx.pid;
error_log stderr;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{server}
}}
"""


def _wait_listening(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"nginx did not start: {log.read_text()}")
        time.sleep(0.1)
