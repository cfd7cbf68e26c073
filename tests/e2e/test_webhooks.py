"""Webhooks end to end: a real receiver on loopback gets a real upload's events, signed
as the Standard Webhooks library checks them, retried with the same id, and sent after
every process restarted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.processes import Server, run_cli, start_server, upload_file
from tests.support.split import SETTINGS as SPLIT_SETTINGS
from tests.support.split import SOURCE, cut, split_clip

# Retries in milliseconds and seconds rather than minutes and hours.
FAST = {"VODSTACK_WEBHOOK_RETRY_SCALE": "0.01", "VODSTACK_WEBHOOK_POLL_SECONDS": "0.2"}
PRIVATE_OK = {"VODSTACK_WEBHOOK_ALLOW_PRIVATE": "1"}


class Receiver:
    """An HTTP server thread that keeps every request, answering 500 to the first
    ``failures`` tries of each webhook-id and 204 after."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    tries = receiver.tries(self.headers.get("webhook-id", ""))
                self.send_response(500 if tries <= receiver.failures else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def tries(self, webhook_id: str) -> int:
        return sum(1 for h, _ in self.received if h.get("webhook-id") == webhook_id)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for e in self.events() if e["type"] == kind) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"no {kind} x{count}; got {[e['type'] for e in self.events()]}")
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut(SOURCE, 2, tmp_path_factory.mktemp("clip") / "clip.webm")


def register(server: Server, url: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/webhooks", json={"url": url, **extra}, headers=server.headers, timeout=30
    )


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every request's body, each signature checked by the specification's library."""
    checker = Webhook(secret)
    bodies = []
    for headers, body in list(receiver.received):
        payload: dict[str, Any] = checker.verify(body, headers)
        bodies.append(payload)
    return bodies


def test_a_real_upload_is_told_signed_and_retried_with_the_same_id(
    tmp_path: Path, receiver: Receiver, clip: Path
) -> None:
    receiver.failures = 2
    with start_server(tmp_path, "--workers", "1", **FAST, **PRIVATE_OK) as server:
        created = register(server, receiver.url)
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["secret"].startswith("whsec_")
        assert "secret" not in server.get("/v1/webhooks")["webhooks"][0]
        video_id = upload_file(server, clip)
        receiver.wait_for("video.uploaded", count=3)
        receiver.wait_for("video.ready", count=3)
        bodies = verified(receiver, hook["secret"])
        uploaded = [h for h, _ in receiver.received if b"video.uploaded" in _]
        assert len({h["webhook-id"] for h in uploaded}) == 1, "one id on every try"
        ready = next(b for b in bodies if b["type"] == "video.ready")
        assert ready["data"]["video"]["id"] == video_id
        assert ready["data"]["video"]["status"] == "ready"
        assert ready["data"]["video"]["renditions"]
        listed = server.get(f"/v1/webhooks/{hook['id']}/deliveries")["deliveries"]
        codes = {d["event_type"]: [a["status_code"] for a in d["attempts"]] for d in listed}
        assert codes["video.uploaded"] == [500, 500, 204]
        assert all(d["status"] == "delivered" for d in listed)
        check_the_cli(server, receiver, hook["id"])


def check_the_cli(server: Server, receiver: Receiver, hook_id: str) -> None:
    added = run_cli(server, "webhooks", "add", receiver.url, "--event", "video.failed")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert (made["events"], made["secret"][:6]) == (["video.failed"], "whsec_")
    listed = json.loads(run_cli(server, "webhooks", "list", "--json").stdout)
    assert {h["id"] for h in listed["webhooks"]} == {hook_id, made["id"]}
    shown = run_cli(server, "webhooks", "deliveries", hook_id, "--json")
    assert len(json.loads(shown.stdout)["deliveries"]) == 2
    assert run_cli(server, "webhooks", "remove", made["id"]).returncode == 0
    gone = run_cli(server, "webhooks", "deliveries", made["id"])
    assert gone.returncode == 1
    assert "no webhook" in gone.stderr


def test_events_written_before_a_kill_are_sent_after_a_restart(
    tmp_path: Path, receiver: Receiver, clip: Path
) -> None:
    quiet = {"VODSTACK_WEBHOOK_DELIVERY": "0"}
    with start_server(tmp_path, "--workers", "0", **FAST, **PRIVATE_OK, **quiet) as server:
        hook = register(server, receiver.url, events=["video.uploaded", "video.ready"]).json()
        worker = server.start_worker()
        video_id = upload_file(server, clip)
        server.wait_for(video_id, lambda v: v["status"] == "ready")
        worker.kill()  # SIGKILL: the worker made the video ready, and sent nothing
        worker.wait()
        assert receiver.received == []
    # After the restart, a worker's own delivery loop sends what the outbox holds.
    with start_server(tmp_path, "--workers", "0", **FAST, **PRIVATE_OK, **quiet) as server:
        server.start_worker(VODSTACK_WEBHOOK_DELIVERY="1")
        receiver.wait_for("video.uploaded")
        receiver.wait_for("video.ready")
    assert sorted(b["type"] for b in verified(receiver, hook["secret"])) == [
        "video.ready",
        "video.uploaded",
    ]


def test_a_loopback_url_is_refused_without_the_setting(tmp_path: Path) -> None:
    with start_server(tmp_path, "--workers", "0") as server:
        refused = register(server, "http://127.0.0.1:9/hooks")
        assert refused.status_code == 400
        assert "loopback" in refused.json()["error"]["message"]
        assert register(server, "ftp://example.com/").status_code == 400


def test_every_event_is_sent_signed_and_a_rotated_secret_signs_with_both(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {**FAST, **PRIVATE_OK, **SPLIT_SETTINGS}
    with start_server(tmp_path, "--workers", "2", **env) as server:
        hook = register(server, receiver.url).json()
        split = upload_file(server, split_clip(tmp_path))  # in parts: playable, then ready
        receiver.wait_for("video.ready")
        noise = tmp_path / "noise.mp4"
        noise.write_bytes(bytes(range(256)) * 64)
        broken = upload_file(server, noise)
        receiver.wait_for("video.failed")
        rotated = httpx.post(
            f"{server.url}/v1/webhooks/{hook['id']}/rotate-secret",
            headers=server.headers,
            timeout=30,
        ).json()
        deleted = httpx.delete(f"{server.url}/v1/videos/{split}", headers=server.headers)
        assert deleted.status_code == 204
        receiver.wait_for("video.deleted")
        ready = next(
            d
            for d in server.get(f"/v1/webhooks/{hook['id']}/deliveries")["deliveries"]
            if d["event_type"] == "video.ready"
        )
        again = httpx.post(
            f"{server.url}/v1/webhooks/{hook['id']}/deliveries/{ready['id']}/redeliver",
            headers=server.headers,
        )
        assert again.status_code == 202
        receiver.wait_for("video.ready", count=2)
    before = [b for h, b in receiver.received if b"video.deleted" not in b]
    after = [(h, b) for h, b in receiver.received if b"video.deleted" in b]
    old, new = Webhook(hook["secret"]), Webhook(rotated["secret"])
    kinds = [old.verify(b, h)["type"] for h, b in receiver.received if b in before]
    assert sorted(set(kinds)) == [
        "video.failed",
        "video.playable",
        "video.ready",
        "video.uploaded",
    ]
    [(headers, body)] = after
    assert len(headers["webhook-signature"].split()) == 2  # both, during the grace period
    assert old.verify(body, headers)["data"]["video"]["id"] == split
    assert new.verify(body, headers)["type"] == "video.deleted"
    failed = next(json.loads(b) for b in before if b"video.failed" in b)
    assert failed["data"]["video"]["id"] == broken
    assert failed["data"]["video"]["error"]
    redelivered = [h["webhook-id"] for h, b in receiver.received if b"video.ready" in b]
    assert len(redelivered) == 2
    assert len(set(redelivered)) == 1  # a redelivery keeps its id
