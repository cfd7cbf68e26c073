"""The client waits when the server asks it to (429, 503) for as long as ``Retry-After``
says, within a bound, and repeats only what is safe to repeat. The server is an in-memory
answer; the pauses are recorded, not slept."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from vodstack import cli
from vodstack.client import ApiError, VodstackClient, retry_after

Answer = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return pauses


def _refused(status: int, retry: str | None = None) -> httpx.Response:
    code = "rate_limited" if status == 429 else "database_unavailable"
    headers = {"Retry-After": retry} if retry is not None else {}
    return httpx.Response(
        status, json={"error": {"code": code, "message": "not now"}}, headers=headers
    )


def _answers(*responses: httpx.Response) -> tuple[Answer, list[httpx.Request]]:
    """Each request gets the next response, the last one over and over."""
    queue: Iterator[httpx.Response] = iter(responses)
    seen: list[httpx.Request] = []
    last = responses[-1]

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal last
        seen.append(request)
        last = next(queue, last)
        return last

    return answer, seen


def _client(answer: Answer, **kwargs: Any) -> VodstackClient:
    return VodstackClient(
        "http://testserver", "vsk_test", transport=httpx.MockTransport(answer), **kwargs
    )


async def test_a_429_is_waited_out_as_retry_after_says(slept: list[float]) -> None:
    answer, seen = _answers(_refused(429, "2"), httpx.Response(200, json={"videos": []}))
    told: list[tuple[float, ApiError]] = []
    async with _client(answer, on_wait=lambda s, e: told.append((s, e))) as client:
        assert await client.call("GET", "/v1/videos") == {"videos": []}
    assert len(seen) == 2
    assert len(slept) == 1
    assert 2 <= slept[0] <= 2.5, "never sooner than asked, a little later"
    assert told[0][0] == slept[0]
    assert told[0][1].code == "rate_limited"


async def test_a_429_is_waited_out_even_for_a_post(slept: list[float]) -> None:
    """The rate limiter refuses before the request does anything: repeating it is safe."""
    answer, seen = _answers(_refused(429, "1"), httpx.Response(201, json={"ok": True}))
    async with _client(answer) as client:
        assert await client.call("POST", "/v1/videos/x/playback-tokens", {}) == {"ok": True}
    assert [r.method for r in seen] == ["POST", "POST"]
    assert json.loads(seen[1].content) == {}


async def test_a_503_is_waited_out_only_for_what_is_safe_to_repeat(slept: list[float]) -> None:
    """A 503 may come after a retry took effect: repeated, it would be refused as a
    conflict. Unless its caller says it is safe, a POST is not repeated."""
    answer, seen = _answers(_refused(503, "1"), httpx.Response(202, json={"status": "queued"}))
    async with _client(answer) as client:
        with pytest.raises(ApiError) as refused:
            await client.call("POST", "/v1/videos/x/retry")
    assert refused.value.status == 503
    assert len(seen) == 1
    assert slept == []

    answer, seen = _answers(_refused(503, "1"), httpx.Response(202, json={"status": "queued"}))
    async with _client(answer) as client:
        done = await client.call("POST", "/v1/videos/x/retry", repeatable=True)
    assert done == {"status": "queued"}
    assert len(seen) == 2
    assert len(slept) == 1


async def test_a_503_on_a_get_is_waited_out_doubling_without_retry_after(
    slept: list[float],
) -> None:
    answer, seen = _answers(
        _refused(503), _refused(503), _refused(503), httpx.Response(200, json={"id": "x"})
    )
    async with _client(answer) as client:
        assert await client.video("x") == {"id": "x"}
    assert len(seen) == 4
    for pause, asked in zip(slept, (1, 2, 4), strict=True):
        assert asked <= pause <= asked + max(0.5, asked * 0.2)


async def test_the_total_wait_is_bounded(slept: list[float]) -> None:
    answer, seen = _answers(_refused(429, "50"))
    async with _client(answer, max_wait=120) as client:
        with pytest.raises(ApiError) as refused:
            await client.call("GET", "/v1/videos")
    assert refused.value.status == 429
    assert len(slept) == 2
    assert sum(slept) <= 120
    assert len(seen) == 3


async def test_a_wait_longer_than_the_bound_is_not_started(slept: list[float]) -> None:
    answer, seen = _answers(_refused(429, "3600"))
    async with _client(answer) as client:
        with pytest.raises(ApiError, match="not now"):
            await client.call("GET", "/v1/videos")
    assert slept == []
    assert len(seen) == 1


async def test_no_wait_at_all_when_the_bound_is_zero(slept: list[float]) -> None:
    answer, seen = _answers(_refused(429, "0"))
    async with _client(answer, max_wait=0) as client:
        with pytest.raises(ApiError):
            await client.call("GET", "/v1/videos")
    assert slept == []
    assert len(seen) == 1


async def test_the_library_is_quiet_by_default(
    slept: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    answer, _ = _answers(_refused(429, "1"), httpx.Response(200, json={}))
    async with _client(answer) as client:
        await client.call("GET", "/v1/videos")
    assert capsys.readouterr() == ("", "")


def test_the_cli_says_on_stderr_that_it_waits(
    slept: list[float], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answer, _ = _answers(_refused(429, "2"), httpx.Response(200, json={"videos": []}))
    monkeypatch.setenv("VODSTACK_DATA_DIR", str(tmp_path))
    talking_to = functools.partial(VodstackClient, transport=httpx.MockTransport(answer))
    monkeypatch.setattr(cli, "VodstackClient", talking_to)
    shown = CliRunner().invoke(cli.app, ["videos", "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {"videos": []}
    assert re.fullmatch(r"rate limited; retrying in [23] s\n", shown.stderr), shown.stderr


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after("7", now) == 7.0
    assert retry_after(" 0 ", now) == 0.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after("Tue, 01 Dec 2026 12:00:05 GMT", now) == 5.0
    assert retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
    assert retry_after(None, now) is None
    assert retry_after("soon", now) is None
    assert retry_after("-3", now) is None


async def test_an_upload_waits_for_the_rate_limit(slept: list[float], tmp_path: Path) -> None:
    """Every API request an upload makes is repeated after a 429 or a 503: creating (refused
    before anything is made), presigning (writes nothing), completing (harmless twice)."""
    file = tmp_path / "clip.webm"
    file.write_bytes(b"0123456789")
    refusals = {
        "POST /v1/uploads": [_refused(429, "1")],
        "POST /v1/uploads/u1/parts": [_refused(503)],
    }
    refusals["POST /v1/uploads/u1/complete"] = [_refused(503, "1")]
    state = {"upload_id": "u1", "video_id": "v1", "status": "active", "size": 10}
    state |= {"part_size": 10, "part_count": 1, "parts": []}
    bodies: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        if refusals.get(route):
            return refusals[route].pop()
        if request.content and request.method == "POST":
            bodies[route] = json.loads(request.content)
        if route == "POST /v1/uploads":
            return httpx.Response(201, json={"upload_id": "u1", "video_id": "v1"})
        if route == "GET /v1/uploads/u1":
            return httpx.Response(200, json=state)
        if route == "POST /v1/uploads/u1/parts":
            part = {"part_number": 1, "url": "http://testserver/part", "method": "PUT"}
            return httpx.Response(200, json={"parts": [part | {"headers": {}}]})
        if route == "PUT /part":
            return httpx.Response(200, headers={"ETag": '"781e5e245d69b566979b86e28d23f2c7"'})
        assert route == "POST /v1/uploads/u1/complete", route
        return httpx.Response(202, json={"video_id": "v1", "status": "queued"})

    async with _client(answer, state_dir=tmp_path / "state") as client:
        result = await client.upload(file, description="a bear", visibility="unlisted")
    assert (result.video_id, result.status) == ("v1", "queued")
    assert len(slept) == 3
    created = bodies["POST /v1/uploads"]
    assert (created["description"], created["visibility"]) == ("a bear", "unlisted")
