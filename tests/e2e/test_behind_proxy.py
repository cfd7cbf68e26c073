"""vodstack behind the deploy's own nginx (deploy/nginx.conf, run by a real nginx): with
VODSTACK_TRUSTED_PROXIES naming it, a playback token bound to an address binds to the
viewer's, not to nginx's, and works from there only, in the multi-process server and in the
single-process one; without the setting, no X-Forwarded-For is believed, not even one from
the loopback. And the public server keeps /metrics to itself.

Viewers are told apart by their source address on the loopback (127.0.0.2, 127.0.0.3: Linux
routes all of 127/8 to it), as nginx sees them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx

from tests.conftest import media
from tests.support.front_proxy import deploy_nginx
from tests.support.processes import Server, start_server, upload_file

VIEWER, STRANGER = "127.0.0.2", "127.0.0.3"


def _from(address: str, base_url: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(transport=transport, base_url=base_url, timeout=10)


def _bound_to(token: str) -> str | None:
    claims = token.split(".")[0]
    ip: str | None = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))).get(
        "ip"
    )
    return ip


def _private_video(server: Server) -> str:
    video_id = upload_file(server, media("axm_bear_vp9_odd_161x121.webm"))
    video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
    assert video["status"] == "ready", video
    made_private = httpx.patch(
        f"{server.url}/v1/videos/{video_id}",
        json={"visibility": "private"},
        headers=server.headers,
    )
    assert made_private.status_code == 200, made_private.text
    return video_id


def _servers(tmp_path: Path, stack: ExitStack) -> Iterator[tuple[str, Server, str]]:
    """The multi-process server (which encodes), then two single-process play servers on
    the same data: one that trusts nginx, one that trusts no proxy; each behind its nginx."""
    data = str(tmp_path / "data")
    variants = [
        ("2 processes, nginx trusted", ("all", "2", "127.0.0.1")),
        ("1 process, nginx trusted", ("play", "1", "127.0.0.1")),
        ("1 process, no proxy trusted", ("play", "1", "")),
    ]
    for name, (role, processes, trusted) in variants:
        env = {
            "VODSTACK_DATA_DIR": data,
            "VODSTACK_ENCODER": "libx264",
            "VODSTACK_PROCESSES": processes,
            "VODSTACK_TRUSTED_PROXIES": trusted,
        }
        root = tmp_path / name.replace(" ", "-").replace(",", "")
        root.mkdir()
        server = stack.enter_context(start_server(root, "--role", role, **env))
        server.data_dir = Path(data)  # where the owner's key is
        front = stack.enter_context(deploy_nginx(root / "nginx", server.url, server.url))
        yield name, server, front


def test_address_bound_tokens_behind_the_deploys_nginx(tmp_path: Path) -> None:
    with ExitStack() as stack:
        servers = _servers(tmp_path, stack)
        name, encoder, front = next(servers)
        video_id = _private_video(encoder)
        # The owner asks for a token bound to the address the request comes from, through
        # nginx, from the viewer's address: it binds to the viewer's.
        with _from(VIEWER, front) as viewer:
            issued = viewer.post(
                f"/v1/videos/{video_id}/playback-tokens",
                json={"bind_ip": True, "expires_in": 600},
                headers=encoder.headers,
            )
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        assert _bound_to(token) == VIEWER
        master = f"/v1/videos/{video_id}/hls/e1/master.m3u8"
        _check_trusting(name, front, master, video_id, token)
        for name, server, front in servers:
            if "no proxy" in name:
                _check_trusting_nobody(server, front, master, token)
            else:
                _check_trusting(name, front, master, video_id, token)
            _check_metrics_kept_in(server, front)


def _check_trusting(name: str, front: str, master: str, video_id: str, token: str) -> None:
    """Through nginx: the token plays for the viewer, on the hot path (a ladder file) and
    on the routed endpoint, and for nobody else, whatever they write in X-Forwarded-For."""
    playback = f"/v1/videos/{video_id}/playback"
    with _from(VIEWER, front) as viewer:
        assert viewer.get(master, params={"token": token}).status_code == 200, name
        assert viewer.get(playback, params={"token": token}).status_code == 200, name
    with _from(STRANGER, front) as stranger:
        for path in (master, playback):
            refused = stranger.get(path, params={"token": token})
            assert refused.status_code == 403, (name, path, refused.text)
            assert "another address" in refused.json()["error"]["message"]
            spoofed = stranger.get(
                path, params={"token": token}, headers={"X-Forwarded-For": VIEWER}
            )
            assert spoofed.status_code == 403, (name, path, spoofed.text)


def _check_trusting_nobody(server: Server, front: str, master: str, token: str) -> None:
    """No proxy trusted: X-Forwarded-For is nobody's word, not even a loopback peer's
    (which uvicorn's own default would believe); behind nginx every viewer is nginx."""
    with _from("127.0.0.1", server.url) as local:
        claimed = local.get(master, params={"token": token}, headers={"X-Forwarded-For": VIEWER})
    assert claimed.status_code == 403, claimed.text
    with _from(VIEWER, front) as viewer:
        assert viewer.get(master, params={"token": token}).status_code == 403


def _check_metrics_kept_in(server: Server, front: str) -> None:
    """Prometheus scrapes the service itself; the world gets nothing from nginx."""
    assert httpx.get(f"{server.url}/metrics").status_code == 200
    with _from(STRANGER, front) as stranger:
        for path in ("/metrics", "/metrics?name[]=x", "/metrics/", "/%6Detrics"):
            assert stranger.get(path).status_code == 403, path
