"""The HTTP API fuzzed with schemathesis, against a real ``vodstack serve`` process, on
SQLite and on PostgreSQL.

What it proves: for every operation of the OpenAPI schema the server publishes, requests
generated from that schema, valid ones, ones that break it, and its edge cases (boundary
values, missing parameters, methods the path does not take), never get a 5xx; every
response's status code, content type, headers and body are what the schema documents for
that operation (every error is an ``ErrorPublic``, a 405 lists the path's methods); a
request that breaks the schema is refused; one that keeps it is refused only for a
documented reason other than "invalid" (422); and an operation that needs an API key
refuses a request without a valid one.

Every operation is fuzzed as the admin, as a user who owns nothing, and without a key.
Valid requests name real objects as often as made-up ones: a ready video and a private one
with their ladders' files and a playback token, a video whose transcoding failed, an upload
in progress with a valid part URL, and completed uploads. So the fuzzer reaches past "not
found" into the code that does the work.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import imageio_ffmpeg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, HookContext

from tests.support.processes import Server, start_server
from tests.support.stack import postgres_database, with_api_key
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.api import create_app
from vodstack.settings import Settings


def _published() -> dict[str, Any]:
    """The schema ``vodstack serve`` publishes, built without starting anything, so that
    the tests can be generated from it; test_the_server_publishes_it checks it is."""
    settings = Settings(_env_file=None)
    storage = MemoryStorage(PartSigner(b"unused", settings.public_url))
    published: dict[str, Any] = json.loads(
        json.dumps(create_app(settings, storage=storage).openapi())
    )
    return published


# A request that keeps the schema may still break a rule the schema cannot state: a part
# number beyond this upload's count or a size above this server's maximum (400), a part
# bigger than its URL allows (413). A 422, "this does not match the schema", stays a failure.
_ACCEPTABLE = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "429"]
_CHECKS = {"positive_data_acceptance": {"expected-statuses": _ACCEPTABLE}}

PUBLISHED = _published()
# The admin's requests go through every phase: the schema's edge cases (the same for every
# caller), then random ones. The other callers' requests are random ones.
schema = schemathesis.openapi.from_dict(
    PUBLISHED, config=schemathesis.Config.from_dict({"checks": _CHECKS})
)
schema_fuzzing_only = schemathesis.openapi.from_dict(
    PUBLISHED,
    config=schemathesis.Config.from_dict(
        {"checks": _CHECKS, "phases": {"coverage": {"enabled": False}}}
    ),
)

# The same examples on every run: a random one that trips the HTTP server's own parser (an
# empty Content-Length is refused before the app sees it) must not turn a run red at random.
_RUN = settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass(frozen=True)
class Seed:
    """Values that name a real object, for the operations that take all of them. An object
    a deletion may remove is seeded for deletions only, so the others still find theirs."""

    path_parameters: dict[str, Any]
    query: dict[str, Any] = field(default_factory=dict)
    to_delete: bool = False


@dataclass(frozen=True)
class Api:
    url: str
    headers: dict[str, dict[str, str]]  # by caller: "admin", "stranger", "anonymous"


SEEDS: list[Seed] = []  # the running server's objects; the `api` fixture fills it


def flatmap_case(context: HookContext, case: Case[Any]) -> st.SearchStrategy[Case[Any]]:
    """A valid request names a seeded object as often as a made-up one. (Invalid ones keep
    their made-up values: a real id would not make them any less invalid.)"""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return st.just(case)
    fitting = [seed for seed in SEEDS if _fits(seed, case)]
    return st.sampled_from([*fitting, None]).map(lambda seed: _named(case, seed))


schema.hook(flatmap_case)
schema_fuzzing_only.hook(flatmap_case)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The embedded install, or one on PostgreSQL (whose text cannot hold everything
    SQLite's can), each with a worker to make the seeded videos ready."""
    root = tmp_path_factory.mktemp("fuzz")
    with contextlib.ExitStack() as stack:
        env = {"VODSTACK_ENCODER": "libx264"}
        if request.param == "postgres":
            env["VODSTACK_DATABASE_URL"] = stack.enter_context(postgres_database("vodstack_fuzz"))
        running = stack.enter_context(start_server(root, "--workers", "1", **env))
        if running.api_key is None:  # no embedded admin: create one as an operator does
            running.env = with_api_key(running.env, "admin")
        yield running


@pytest.fixture(scope="module")
def api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    stranger = with_api_key(server.env, "stranger", admin=False)["VODSTACK_API_KEY"]
    SEEDS[:] = _seed(server, tmp_path_factory.mktemp("clips"))
    yield Api(
        server.url,
        {
            "admin": server.headers,
            "stranger": {"Authorization": f"Bearer {stranger}"},
            "anonymous": {},
        },
    )
    SEEDS.clear()


def test_the_server_publishes_it(server: Server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == PUBLISHED


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/uploads/a%00b", None, 404),
        ("GET", "/v1/videos/a%00b", None, 404),
        ("GET", "/v1/videos/a%00b/playback", None, 404),
        ("GET", "/v1/videos/a%00b/hls/e1/a.ts", None, 404),
        ("POST", "/v1/uploads", {"filename": "a.mp4", "size": 1, "title": "a\x00b"}, 422),
        ("PATCH", "/v1/videos/a", {"description": "a\x00b"}, 422),
    ],
)
def test_a_nul_names_nothing_and_is_not_kept(
    api: Api, method: str, path: str, body: dict[str, Any] | None, status: int
) -> None:
    """PostgreSQL text cannot hold a NUL, and the fuzzer seldom sends one where the schema
    does not forbid it (it does in text the API keeps, so invalid requests do send them)."""
    response = httpx.request(method, api.url + path, json=body, headers=api.headers["admin"])
    assert response.status_code == status, response.text


@schema.parametrize()
@_RUN
def test_as_admin(case: Case[Any], api: Api) -> None:
    case.call_and_validate(base_url=api.url, headers=api.headers["admin"])


@pytest.mark.parametrize("caller", ["stranger", "anonymous"])
@schema_fuzzing_only.parametrize()
@_RUN
def test_without_rights(case: Case[Any], api: Api, caller: str) -> None:
    case.call_and_validate(base_url=api.url, headers=api.headers[caller])


def _fits(seed: Seed, case: Case[Any]) -> bool:
    path = case.path_parameters or {}
    query = {parameter.name for parameter in case.operation.query}
    deletes = case.method.upper() == "DELETE"
    return (
        seed.path_parameters.keys() <= path.keys()
        and seed.query.keys() <= query
        and seed.to_delete == deletes
    )


def _named(case: Case[Any], seed: Seed | None) -> Case[Any]:
    if seed is not None:
        case.path_parameters = {**(case.path_parameters or {}), **seed.path_parameters}
        case.query = {**(case.query or {}), **seed.query}
    return case


def _seed(server: Server, folder: Path) -> list[Seed]:
    """Real objects, each in a state of its own."""
    clip = _tiny_clip(folder / "clip.mp4")
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as api:
        ready, ready_upload = _upload(api, clip)
        private, _ = _upload(api, clip, visibility="private")
        doomed, _ = _upload(api, clip)
        failed, failed_upload = _upload(api, b"not a video at all" * 100)
        active = _created(api, size=1000)
        doomed_upload = _created(api, size=1000)["upload_id"]
        [part] = _json(api.post(f"/v1/uploads/{active['upload_id']}/parts", json=_PART_1))["parts"]
        for video_id in (ready, private, doomed):
            server.wait_for(video_id, lambda v: v["status"] == "ready", timeout=120)
        server.wait_for(failed, lambda v: v["status"] == "failed", timeout=120)
        epoch, files = _ladder_files(api, ready)
        token = _json(api.post(f"/v1/videos/{private}/playback-tokens", json={}))["token"]
    part_url = urlsplit(part["url"])
    upload_id, number = part_url.path.removeprefix("/v1/storage/parts/").split("/")
    grant = {k: int(v) if v.isdigit() else v for k, v in parse_qsl(part_url.query)}
    signed_part = Seed({"upload_id": upload_id, "part_number": int(number)}, grant)
    unsigned = {k: v for k, v in grant.items() if k != "signature"}
    forged_part = Seed(signed_part.path_parameters, unsigned)  # the signature is made up
    return [
        *(Seed({"video_id": video_id}) for video_id in (ready, private, failed)),
        Seed({"video_id": active["video_id"]}),
        Seed({"video_id": private}, {"token": token}),
        *(Seed({"video_id": ready, "epoch": epoch, "path": name}) for name in files),
        *(Seed({"video_id": private, "epoch": epoch, "path": n}, {"token": token}) for n in files),
        *(Seed({"upload_id": upload}) for upload in (active["upload_id"], ready_upload)),
        Seed({"upload_id": failed_upload}),
        signed_part,
        forged_part,
        Seed({"video_id": doomed}, to_delete=True),
        Seed({"upload_id": doomed_upload}, to_delete=True),
    ]


_PART_1 = {"part_numbers": [1]}


def _json(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def _created(api: httpx.Client, size: int, **fields: str) -> dict[str, Any]:
    body = {"filename": "clip.mp4", "size": size, **fields}
    created: dict[str, Any] = _json(api.post("/v1/uploads", json=body))
    return created


def _upload(api: httpx.Client, data: bytes, **fields: str) -> tuple[str, str]:
    """A one-part upload, completed: (the video's id, the upload's id)."""
    created = _created(api, len(data), **fields)
    upload_id = created["upload_id"]
    [part] = _json(api.post(f"/v1/uploads/{upload_id}/parts", json=_PART_1))["parts"]
    etag = _json(httpx.put(part["url"], content=data))["etag"]
    done = {"parts": [{"part_number": 1, "etag": etag}]}
    _json(api.post(f"/v1/uploads/{upload_id}/complete", json=done))
    return created["video_id"], upload_id


def _tiny_clip(path: Path) -> bytes:
    """One second of a test pattern, 160x120: transcoded in a moment."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1"),
            *("-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)),
        ],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


def _ladder_files(api: httpx.Client, video_id: str) -> tuple[int, list[str]]:
    """The published epoch, and the master playlist, a rendition's and its first segment."""
    master_url = _json(api.get(f"/v1/videos/{video_id}/playback"))["master_url"]
    match = re.search(r"/hls/e(\d+)/", master_url)
    assert match is not None, master_url
    base = master_url.rsplit("/", 1)[0]
    files = ["master.m3u8"]
    for _ in range(2):  # the master names a rendition's playlist, which names segments
        listed = api.get(f"{base}/{files[-1]}").text
        uri = next(line for line in listed.splitlines() if line and not line.startswith("#"))
        folder = files[-1].rpartition("/")[0]
        files.append(f"{folder}/{uri}" if folder else uri)
    return int(match.group(1)), files
