"""The command line shows a video's warnings where a person reads (stderr, in yellow) and
keeps them in its JSON. The server is the API's own JSON for a video, answered in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from vodstack import cli
from vodstack.api.routes.videos import _public
from vodstack.client import UploadResult, VodstackClient
from vodstack.domain.videos import Video, VideoStatus, source_key

VIDEO_ID = "ab12" * 8
TRUNCATED = "the file is truncated: 0.9 s of 1.6 s could be decoded"
MARKUP = "[red]a title's markup[/] stays as it is"


def _video_json(warnings: tuple[str, ...]) -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    video = Video(
        id=VIDEO_ID,
        title="clip",
        description="",
        filename="clip.mp4",
        content_type="video/mp4",
        size=10,
        source_key=source_key(VIDEO_ID),
        status=VideoStatus.READY,
        created_at=now,
        updated_at=now,
        progress=1.0,
        warnings=warnings,
    )
    shown: dict[str, Any] = _public(video).model_dump(mode="json")
    return shown


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The CLI's client talks to an in-memory answer; set the video's warnings in it."""
    warnings: list[tuple[str, ...]] = [(TRUNCATED, MARKUP)]

    def answer(request: httpx.Request) -> httpx.Response:
        video = _video_json(warnings[0])
        if request.url.path == "/v1/videos":
            return httpx.Response(200, json={"videos": [video]})
        assert request.url.path == f"/v1/videos/{VIDEO_ID}"
        return httpx.Response(200, json=video)

    def client(server: str | None, concurrency: int = 4) -> VodstackClient:
        return VodstackClient("http://testserver", transport=httpx.MockTransport(answer))

    async def uploaded(self: VodstackClient, file: Path, *args: Any, **kwargs: Any) -> UploadResult:
        return UploadResult(VIDEO_ID, "u" * 32, "queued", 10, 1, 1, resumed=False)

    monkeypatch.setattr(cli, "_client", client)
    monkeypatch.setattr(VodstackClient, "upload", uploaded)
    return warnings


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), catch_exceptions=False)


def test_status_prints_each_warning_and_keeps_them_in_its_json(
    server: list[tuple[str, ...]],
) -> None:
    shown = _run("status", VIDEO_ID)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["warnings"] == [TRUNCATED, MARKUP]
    assert shown.stderr.splitlines() == [f"warning: {TRUNCATED}", f"warning: {MARKUP}"]


@pytest.mark.parametrize("wait", ["--wait", "--wait-playable"])
def test_upload_and_wait_prints_the_warnings_and_puts_them_in_its_json(
    server: list[tuple[str, ...]], tmp_path: Path, wait: str
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"0123456789")
    done = _run("upload", str(clip), wait, "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["status"], result["warnings"]) == ("ready", [TRUNCATED, MARKUP])
    assert f"warning: {TRUNCATED}" in done.stderr.splitlines()

    plain = _run("upload", str(clip), wait)
    assert plain.exit_code == 0, plain.output
    lines = plain.stderr.splitlines()
    assert lines[-3:] == [
        f"video {VIDEO_ID} is ready",
        f"warning: {TRUNCATED}",
        f"warning: {MARKUP}",
    ]


def test_no_warnings_print_nothing_and_the_listing_counts_them(
    server: list[tuple[str, ...]],
) -> None:
    listed = _run("videos")
    assert "(2 warnings)" in listed.stdout
    server[0] = ()
    shown = _run("status", VIDEO_ID)
    assert json.loads(shown.stdout)["warnings"] == []
    assert "warning" not in shown.stderr
    assert "warning" not in _run("videos").stdout
