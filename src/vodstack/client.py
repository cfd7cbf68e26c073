"""The HTTP client behind ``vodstack upload``: parallel part PUTs straight to the presigned
URLs, resumable across runs, verifying every part's ETag against its local MD5. A server
that answers 429 or 503 is waited for, as long as its ``Retry-After`` says, within a bound."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from vodstack.domain.uploads import PartPlan, normalize_etag

READ_CHUNK = 1024 * 1024
PRESIGN_BATCH = 100
PART_ATTEMPTS = 4
# How long one request may spend waiting on a server that asks for time (429, 503).
MAX_WAIT_SECONDS = 120.0
# The first pause when the server does not say how long; it doubles up to the cap.
DEFAULT_WAIT_SECONDS = 1.0
DEFAULT_WAIT_CAP_SECONDS = 30.0
# Sending these twice means the same as sending them once (RFC 9110, 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ApiError(Exception):
    """The server answered with an error; ``code`` and ``message`` are its own words."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class UploadResult:
    video_id: str
    upload_id: str
    status: str
    size: int
    parts_sent: int
    parts_total: int
    resumed: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "upload_id": self.upload_id,
            "status": self.status,
            "size": self.size,
            "parts_sent": self.parts_sent,
            "parts_total": self.parts_total,
            "resumed": self.resumed,
        }


ProgressCallback = Callable[[int], None]
# Told, before each pause, how many seconds the client will wait and what the server said.
WaitCallback = Callable[[float, ApiError], None]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vodstack" / "uploads"


class ResumeRecords:
    """Which upload a local file belongs to, so a second run continues the first. Keyed by
    the server, the file's absolute path, size and modification time: a changed file starts
    over."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def _path(self, server: str, file: Path) -> Path:
        stat = file.stat()
        ident = f"{server}|{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self._folder / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.json"

    def load(self, server: str, file: Path) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._path(server, file).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data

    def save(self, server: str, file: Path, record: dict[str, Any]) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        path = self._path(server, file)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)

    def forget(self, server: str, file: Path) -> None:
        self._path(server, file).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Form:
    """A multipart form: its text fields, and its files as (filename, bytes, type)."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes, str]]


class VodstackClient:
    def __init__(
        self,
        server: str,
        api_key: str | None = None,
        *,
        concurrency: int = 4,
        state_dir: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_wait: float = MAX_WAIT_SECONDS,
        on_wait: WaitCallback | None = None,
    ) -> None:
        """``max_wait``: the seconds one request may spend waiting on 429 and 503 answers
        before their error is raised; 0 raises at once. ``on_wait`` hears of each pause."""
        self.server = server.rstrip("/")
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.server,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(60.0, connect=10.0),
        )
        self._concurrency = max(1, concurrency)
        self._records = ResumeRecords(state_dir or default_state_dir())
        self.max_wait = max_wait
        self._on_wait = on_wait or _quiet

    async def __aenter__(self) -> VodstackClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    # --- JSON API --------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        repeatable: bool | None = None,
        form: Form | None = None,
    ) -> Any:
        """``repeatable``: sending the request twice does no harm, so a 503 is waited out
        too (default: for the idempotent methods). A 429 always is: the rate limiter
        refuses a request before it does anything. ``form``: a multipart form of fields
        and files, sent instead of a JSON body."""
        if repeatable is None:
            repeatable = method.upper() in IDEMPOTENT_METHODS
        sent: dict[str, Any] = {"json": body}
        if form is not None:
            sent = {"data": form.fields, "files": form.files}
        response = await self._request(method, path, repeatable, **sent)
        if response.status_code >= 400:
            raise _api_error(response)
        return None if response.status_code == 204 else response.json()

    async def fetch(self, url: str) -> bytes:
        """The body of any URL the API handed out (playlists, segments)."""
        response = await self._request("GET", url, True)
        if response.status_code >= 400:
            raise _api_error(response)
        return response.content

    async def download(self, path: str, out: Path) -> int:
        """Stream a file the API serves or redirects to (S3 presigned) into ``out``, whole
        or not at all; its size. The key is never sent on to another origin."""
        partial = out.with_name(out.name + ".partial")
        size = 0
        try:
            async with self._http.stream("GET", path, follow_redirects=True) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _api_error(response)
                with partial.open("wb") as file:
                    async for piece in response.aiter_bytes(1 << 20):
                        file.write(piece)
                        size += len(piece)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
        return size

    async def _request(
        self, method: str, url: str, repeatable: bool, **kwargs: Any
    ) -> httpx.Response:
        """The server's answer, after waiting out the 429s (and, if ``repeatable``, the
        503s) that fit in ``max_wait``."""
        waited = 0.0
        pauses = 0
        while True:
            response = await self._http.request(method, url, **kwargs)
            if response.status_code != 429 and not (response.status_code == 503 and repeatable):
                return response
            pause = self._pause(response, pauses, self.max_wait - waited)
            if pause is None:
                return response
            self._on_wait(pause, _api_error(response))
            await asyncio.sleep(pause)
            waited += pause
            pauses += 1

    def _pause(self, response: httpx.Response, pauses: int, left: float) -> float | None:
        """How long to wait before asking again; None when the wait does not fit in
        ``left``. Never sooner than the server asked, and a little later at random, so
        clients refused together do not all come back together."""
        asked = retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        if asked is None:
            asked = min(DEFAULT_WAIT_SECONDS * 2**pauses, DEFAULT_WAIT_CAP_SECONDS)
        if left <= 0 or asked > left:
            return None
        return min(left, asked + random.uniform(0, max(0.5, asked * 0.2)))

    async def video(self, video_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/v1/videos/{video_id}")
        return result

    async def wait_until_done(
        self, video_id: str, poll_seconds: float = 1.0, *, playable: bool = False
    ) -> dict[str, Any]:
        """Until the video is ready or failed (``playable``: or plays already, while its
        later chunks are encoded)."""
        done = ("ready", "failed", "playable") if playable else ("ready", "failed")
        while True:
            video = await self.video(video_id)
            if video["status"] in done:
                return video
            await asyncio.sleep(poll_seconds)

    # --- upload ----------------------------------------------------------------------

    async def upload(
        self,
        file: Path,
        title: str | None = None,
        content_type: str | None = None,
        on_start: Callable[[int, int], None] | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        description: str = "",
        visibility: str = "public",
    ) -> UploadResult:
        """Upload ``file``, resuming an earlier interrupted run on the same file (whose
        title, description and visibility stay as that run set them).
        ``on_start(total, already_sent)`` then ``on_progress(bytes)`` report progress."""
        size = (await asyncio.to_thread(file.stat)).st_size
        about = {
            "title": title,
            "content_type": content_type,
            "description": description,
            "visibility": visibility,
        }
        upload, resumed = await self._resume_or_create(file, size, about)
        upload_id = upload["upload_id"]
        plan = PartPlan(size, upload["part_size"])
        if upload["status"] == "completed":
            # Completing again is harmless and answers with the video's status.
            done = [{"part_number": p["part_number"], "etag": p["etag"]} for p in upload["parts"]]
            accepted = await self._complete(upload_id, done)
            return self._finish(file, upload, accepted, plan, 0, resumed)
        held = await self._verified_parts(file, plan, upload["parts"])
        missing = [n for n in range(1, plan.part_count + 1) if n not in held]
        if on_start:
            on_start(size, sum(plan.size_of(n) for n in held))
        sent = await self._send_parts(file, upload_id, plan, missing, on_progress or _ignore)
        held.update(sent)
        completion = [{"part_number": n, "etag": held[n]} for n in sorted(held)]
        accepted = await self._complete(upload_id, completion)
        return self._finish(file, upload, accepted, plan, len(missing), resumed)

    async def _complete(self, upload_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        # Completing twice is harmless: the server answers with the video's status.
        accepted: dict[str, Any] = await self.call(
            "POST", f"/v1/uploads/{upload_id}/complete", {"parts": parts}, repeatable=True
        )
        return accepted

    async def _resume_or_create(
        self, file: Path, size: int, about: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        record = self._records.load(self.server, file)
        if record is not None:
            try:
                state: dict[str, Any] = await self.call("GET", f"/v1/uploads/{record['upload_id']}")
            except ApiError as exc:
                if exc.status != 404:
                    raise
            else:
                if state["status"] != "aborted":
                    return state, True
        # A 503 here created nothing: the server undoes the storage side of an upload
        # whose database row it could not write.
        created = await self.call(
            "POST", "/v1/uploads", {"filename": file.name, "size": size, **about}, repeatable=True
        )
        self._records.save(self.server, file, {"upload_id": created["upload_id"]})
        state = await self.call("GET", f"/v1/uploads/{created['upload_id']}")
        return state, False

    def _finish(
        self,
        file: Path,
        upload: dict[str, Any],
        accepted: dict[str, Any],
        plan: PartPlan,
        sent: int,
        resumed: bool,
    ) -> UploadResult:
        """Only the upload API is needed: in a split deployment it may be all we reach."""
        self._records.forget(self.server, file)
        return UploadResult(
            video_id=accepted["video_id"],
            upload_id=upload["upload_id"],
            status=accepted["status"],
            size=plan.size,
            parts_sent=sent,
            parts_total=plan.part_count,
            resumed=resumed,
        )

    async def _verified_parts(
        self, file: Path, plan: PartPlan, stored: list[dict[str, Any]]
    ) -> dict[int, str]:
        """Parts the server already holds that match the local file byte for byte."""
        held: dict[int, str] = {}
        for part in stored:
            n = part["part_number"]
            if not 1 <= n <= plan.part_count or part["size"] != plan.size_of(n):
                continue
            local = await asyncio.to_thread(_md5_of_range, file, plan.offset_of(n), part["size"])
            if normalize_etag(part["etag"]) == local:
                held[n] = part["etag"]
        return held

    async def _send_parts(
        self,
        file: Path,
        upload_id: str,
        plan: PartPlan,
        part_numbers: list[int],
        on_progress: ProgressCallback,
    ) -> dict[int, str]:
        todo: asyncio.Queue[int] = asyncio.Queue()
        for n in part_numbers:
            todo.put_nowait(n)
        urls: dict[int, dict[str, Any]] = {}
        presign_lock = asyncio.Lock()
        etags: dict[int, str] = {}

        async def url_for(n: int, refresh: bool = False) -> dict[str, Any]:
            async with presign_lock:
                if refresh or n not in urls:
                    batch = [m for m in part_numbers if m >= n and (m not in urls or m == n)]
                    response = await self.call(
                        "POST",
                        f"/v1/uploads/{upload_id}/parts",
                        {"part_numbers": batch[:PRESIGN_BATCH]},
                        repeatable=True,  # presigning writes nothing
                    )
                    urls.update({p["part_number"]: p for p in response["parts"]})
                return urls[n]

        async def worker() -> None:
            with open(file, "rb") as handle:  # noqa: ASYNC230 - reads go through to_thread
                while not todo.empty():
                    n = todo.get_nowait()
                    etags[n] = await self._send_part(handle.fileno(), plan, n, url_for, on_progress)

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(part_numbers)))))
        return etags

    async def _send_part(
        self,
        fd: int,
        plan: PartPlan,
        n: int,
        url_for: Callable[..., Any],
        on_progress: ProgressCallback,
    ) -> str:
        size, offset = plan.size_of(n), plan.offset_of(n)
        for attempt in range(1, PART_ATTEMPTS + 1):
            target = await url_for(n, refresh=attempt > 1)
            body = _PartBody(fd, offset, size, on_progress)
            headers = {**target.get("headers", {}), "Content-Length": str(size)}
            try:
                response = await self._http.request(
                    target["method"], target["url"], content=body, headers=headers
                )
            except httpx.TransportError:
                on_progress(-body.sent)
                if attempt == PART_ATTEMPTS:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            if response.status_code >= 400:
                on_progress(-body.sent)
                # 403: the presigned URL expired; 429, 5xx: storage asks for time.
                again = response.status_code >= 500 or response.status_code in (403, 429)
                if not again or attempt == PART_ATTEMPTS:
                    raise _api_error(response)
                await asyncio.sleep(self._part_pause(response, attempt))
                continue
            etag = normalize_etag(response.headers.get("etag", ""))
            if etag == body.md5.hexdigest():
                return etag
            on_progress(-body.sent)  # corrupted on the way: send it again
        raise ApiError(502, "etag_mismatch", f"part {n} kept arriving corrupted; giving up")

    def _part_pause(self, response: httpx.Response, attempt: int) -> float:
        """The backoff between a part's attempts, or longer where storage asks for longer
        (a PUT is safe to repeat)."""
        pause: float = 0.5 * 2**attempt
        if response.status_code in (429, 503):
            asked = retry_after(response.headers.get("retry-after"), datetime.now(UTC))
            pause = max(pause, min(asked or 0.0, self.max_wait))
            self._on_wait(pause, _api_error(response))
        return pause


class _PartBody:
    """One part's bytes, read from the file as they are sent and hashed on the way."""

    def __init__(self, fd: int, offset: int, size: int, on_progress: ProgressCallback) -> None:
        self._fd, self._offset, self._size = fd, offset, size
        self._on_progress = on_progress
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        end = self._offset + self._size
        position = self._offset
        while position < end:
            # Read and hash in a thread: hashlib lets go of the GIL, so hashing every byte
            # runs beside the event loop that sends the other parts.
            chunk = await asyncio.to_thread(
                self._read_and_hash, min(READ_CHUNK, end - position), position
            )
            position += len(chunk)
            self.sent += len(chunk)
            self._on_progress(len(chunk))
            yield chunk

    def _read_and_hash(self, size: int, position: int) -> bytes:
        chunk = os.pread(self._fd, size, position)
        if not chunk:
            raise OSError("the file shrank while it was being uploaded")
        self.md5.update(chunk)
        return chunk


def _md5_of_range(file: Path, offset: int, size: int) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    with file.open("rb") as handle:
        handle.seek(offset)
        remaining = size
        while remaining:
            chunk = handle.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            md5.update(chunk)
            remaining -= len(chunk)
    return md5.hexdigest()


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text[:200] or response.reason_phrase
        return ApiError(response.status_code, "http_error", text)


def retry_after(value: str | None, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for: a number of seconds or an HTTP date;
    None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is in GMT, whether it says so or not
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _ignore(_: int) -> None:
    pass


def _quiet(_: float, __: ApiError) -> None:
    pass
