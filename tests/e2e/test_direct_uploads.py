"""Direct uploads through a real server: a user's key makes a link, and whoever holds only
its token uploads one video, which is the user's; a second upload, an expired token and a
file too large are refused."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import media
from tests.support.processes import VODSTACK, Server, last_json, start_server
from vodstack.client import ApiError, UploadResult, VodstackClient
from vodstack.domain.direct_uploads import DirectGrant, direct_token
from vodstack.settings import Settings, ensure_signing_key

CLIP = "axm_bear_vp9_odd_161x121.webm"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


def _user(server: Server, name: str) -> dict[str, str]:
    done = subprocess.run(
        [*VODSTACK, "users", "create", name, "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {last_json(done.stdout)['api_key']}"}


def _direct_upload(server: Server, key: dict[str, str], **body: Any) -> dict[str, Any]:
    made = httpx.post(f"{server.url}/v1/direct-uploads", json=body, headers=key)
    assert made.status_code == 201, made.text
    issued: dict[str, Any] = made.json()
    return issued


def _upload(server: Server, token: str, tmp_path: Path, **about: Any) -> UploadResult:
    """Upload the clip with the real client, holding the token and nothing else."""

    async def run() -> UploadResult:
        state = tmp_path / "state"
        async with VodstackClient(server.url, token, state_dir=state, max_wait=0) as client:
            return await client.upload(media(CLIP), **about)

    return asyncio.run(run())


def test_a_token_uploads_one_video_for_its_owner(server: Server, tmp_path: Path) -> None:
    alice, bob = _user(server, "alice"), _user(server, "bob")
    issued = _direct_upload(server, alice, title="A bear", visibility="private")
    assert issued["upload_url"].startswith(f"{server.url}/upload#direct=")
    token = issued["token"]
    # The uploader asks for a public video; the link said private, and private it is.
    done = _upload(server, token, tmp_path, title="mine now", visibility="public")
    video = server.wait_for(done.video_id, lambda v: v["status"] in ("ready", "failed"))
    assert video["status"] == "ready", video
    own = httpx.get(f"{server.url}/v1/videos/{done.video_id}", headers=alice).json()
    assert (own["title"], own["visibility"]) == ("A bear", "private")
    assert httpx.get(f"{server.url}/v1/videos/{done.video_id}", headers=bob).status_code == 404
    # Used up: the token opens nothing any more, not even its own upload.
    again = httpx.post(
        f"{server.url}/v1/uploads",
        json={"filename": "b.webm", "size": 10},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert again.status_code == 401, again.text
    looked = httpx.get(
        f"{server.url}/v1/uploads/{done.upload_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert looked.status_code == 401


def test_a_token_starts_one_upload_only(server: Server, tmp_path: Path) -> None:
    issued = _direct_upload(server, _user(server, "carol"))
    headers = {"Authorization": f"Bearer {issued['token']}"}
    body = {"filename": "a.webm", "size": 1000}
    first = httpx.post(f"{server.url}/v1/uploads", json=body, headers=headers)
    assert first.status_code == 201, first.text
    second = httpx.post(f"{server.url}/v1/uploads", json=body, headers=headers)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "direct_upload_taken"
    current = httpx.get(f"{server.url}/v1/direct-uploads/current", headers=headers).json()
    assert (current["owner"], current["upload_id"]) == ("carol", first.json()["upload_id"])
    # Nothing else opens to it: not the listing, not the keys.
    for path in ("/v1/videos", "/v1/keys", "/v1/webhooks"):
        assert httpx.get(f"{server.url}{path}", headers=headers).status_code == 403


def test_an_expired_token_is_refused(server: Server, tmp_path: Path) -> None:
    issued = _direct_upload(server, _user(server, "dave"))
    key = ensure_signing_key(Settings(data_dir=server.data_dir, _env_file=None))
    expired = direct_token(DirectGrant(issued["id"], 1), key)
    with pytest.raises(ApiError) as refused:
        _upload(server, expired, tmp_path)
    assert refused.value.status == 401
    assert "expired" in refused.value.message


def test_a_file_larger_than_the_link_allows_is_refused(server: Server, tmp_path: Path) -> None:
    clip = media(CLIP)
    issued = _direct_upload(server, _user(server, "erin"), max_size=1000)
    assert issued["max_size"] == 1000
    with pytest.raises(ApiError) as refused:
        _upload(server, issued["token"], tmp_path)
    assert refused.value.status == 413
    assert refused.value.message == (
        f"the file is {clip.stat().st_size} bytes; this direct upload allows at most 1000 bytes"
    )
