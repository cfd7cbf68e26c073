"""Infrastructure faults on the production stack: S3 answering 503 or not answering at
all, SQS unavailable, PostgreSQL restarted mid-job. The services answer with a clear 503
meanwhile, the workers retry with backoff, and everything recovers without a restart: every
video ends ready, once. While PostgreSQL is down, every process's /readyz says so, and says
ready again once it is back.

Each fault lands at a named step (the S3 requests of a job's download, the upload service's
next call), never in a window of wall-clock time, which lands wherever the job happens to be;
and the tests wait on conditions (the timeline, the fault proxy's counters), never on sleeps.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import media
from tests.support.aws import Moto, s3_attempts_per_call
from tests.support.fault_proxy import Fault, FaultProxy, fault_proxy
from tests.support.processes import Server, free_port, start_split, upload_file
from tests.support.split import cut
from tests.support.stack import postgres_database, production_env, query, with_api_key

pytestmark = pytest.mark.postgres

CLIP = "axm_720p_h264_rot270.mp4"
# How long an S3 request may go unanswered before boto3 sends it again: the held request
# of the hang test costs this much. Long enough for any of moto's answers on a busy machine;
# the queue's client keeps its own timeout, above its long polls.
STORAGE_TIMEOUT = 5


@dataclass
class Stack:
    upload: Server
    play: Server
    s3: FaultProxy
    sqs: FaultProxy
    database: str
    worker_probes: str  # the worker's metrics port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto: Moto) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("infra")
    with (
        fault_proxy(moto.endpoint) as s3,
        fault_proxy(moto.endpoint) as sqs,
        postgres_database() as database,
    ):
        queue_url = moto.queue(visibility=5).replace(moto.endpoint, sqs.url)
        env = with_api_key(
            production_env(
                moto,
                database,
                queue_url,
                moto.bucket(),
                VODSTACK_S3_ENDPOINT_URL=s3.url,
                VODSTACK_LEASE_SECONDS="3",
                VODSTACK_HEARTBEAT_SECONDS="1",
                VODSTACK_SWEEP_SECONDS="2",
                VODSTACK_STORAGE_TIMEOUT_SECONDS=str(STORAGE_TIMEOUT),
            )
        )
        with start_split(root, **env) as (upload, play):
            port = free_port()
            upload.start_worker("--metrics-port", str(port), "--metrics-host", "127.0.0.1")
            yield Stack(upload, play, s3, sqs, database, f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip's first 2 s, for the faults that land before or after the encode: its
    length only costs time there."""
    return cut(CLIP, 2, tmp_path_factory.mktemp("clips") / "clip.mp4")


def upload(stack: Stack, clip: Path) -> str:
    return upload_file(stack.upload, clip)


def ready_once(stack: Stack, video_id: str) -> list[dict[str, object]]:
    stack.play.wait_for(video_id, lambda v: v["status"] == "ready", timeout=180)
    events: list[dict[str, object]] = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
    assert [e["kind"] for e in events].count("ready") == 1
    assert all(w.poll() is None for w in stack.upload.workers), "no worker may have died"
    return events


@pytest.mark.parametrize("fault", ["503", "hang"])
def test_storage_away_at_the_start_of_a_job(stack: Stack, fault: Fault, short_clip: Path) -> None:
    # The worker is paused until the fault is armed: it may claim the job the moment the
    # upload completes, before the CLI has even exited.
    with worker_paused(stack):
        video_id = upload(stack, short_clip)
        source = f"sources/{video_id}/"
        uploaded = len(stack.s3.seen(source))  # the upload's own requests on the source
        # 503: every attempt of one S3 call (the download's first), so the call gives up.
        times = s3_attempts_per_call() if fault == "503" else 1
        armed = stack.s3.fail_next(match=source, times=times, mode=fault)
        held, abandoned = stack.s3.held, stack.s3.abandoned
    events = ready_once(stack, video_id)
    assert armed.remaining == 0
    outcomes = [s.outcome for s in stack.s3.seen(source)[uploaded:]]
    retries = [e for e in events if e["kind"] == "retry"]
    if fault == "503":
        # boto3's retries ran out: the job was retried after its backoff, and got through.
        assert outcomes[: times + 1] == ["refused"] * times + ["forwarded"], outcomes
        assert len(retries) == 1, events
        assert "503" in str(retries[0]["reason"]), retries
    else:
        # boto3 gave up on the held request after its read timeout and sent it again.
        assert outcomes[:2] == ["held", "forwarded"], outcomes
        _wait_until(lambda: stack.s3.abandoned == abandoned + 1, "the client to give up")
        assert stack.s3.held == held + 1
        assert not retries, events


def test_the_upload_service_answers_503_while_storage_is_away(stack: Stack) -> None:
    stack.s3.set_mode("503")
    try:
        refused = httpx.post(
            f"{stack.upload.url}/v1/uploads",
            json={"filename": "a.mp4", "size": 10},
            headers=stack.upload.headers,
            timeout=60,
        )
    finally:
        stack.s3.set_mode("pass")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "storage_unavailable"
    assert "503" in refused.json()["error"]["message"]
    accepted = httpx.post(
        f"{stack.upload.url}/v1/uploads",
        json={"filename": "a.mp4", "size": 10},
        headers=stack.upload.headers,
        timeout=60,
    )
    assert accepted.status_code == 201


def test_a_job_completed_while_the_queue_is_away_is_still_done(
    stack: Stack, short_clip: Path
) -> None:
    stack.sqs.set_mode("503")
    try:
        video_id = upload(stack, short_clip)  # the message cannot be sent
        ready_once(stack, video_id)  # an idle worker finds the job in the database
    finally:
        stack.sqs.set_mode("pass")


# Every other test that uses PostgreSQL would see the restart too.
@pytest.mark.serial
def test_postgresql_restarted_mid_job(stack: Stack) -> None:
    cluster = _postgres_cluster()
    # The whole clip: seconds of encoding, for the restart to land in.
    video_id = upload(stack, media(CLIP))
    stack.play.wait_for(video_id, lambda v: v["status"] == "processing" and v["progress"] > 0)
    probed = (stack.upload.url, stack.play.url, stack.worker_probes)
    _wait_ready(probed)  # the worker's probes are served once it has started
    _pg_ctlcluster(cluster, "stop")
    try:
        for url in probed:
            answer = httpx.get(f"{url}/readyz", timeout=10)
            assert answer.status_code == 503, (url, answer.text)
            checks = answer.json()["checks"]
            assert checks["database"].startswith("unavailable"), (url, checks)
            assert checks["storage"] == "ok", (url, checks)
    finally:
        _pg_ctlcluster(cluster, "start")
    _wait_ready(probed)
    ready_once(stack, video_id)
    (job,) = query(stack.database, "SELECT lease_owner FROM jobs WHERE video_id = %s", video_id)
    assert job["lease_owner"] is None


@contextmanager
def worker_paused(stack: Stack) -> Iterator[None]:
    """The stack's worker stopped for the block (SIGSTOP, as a VM pause): whatever it would
    do meanwhile, it does after."""
    (worker,) = stack.upload.workers
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        _wait_until(lambda: _process_state(worker.pid) == "T", "the worker to stop")
        yield
    finally:
        os.killpg(worker.pid, signal.SIGCONT)


def _process_state(pid: int) -> str:
    # The field after the command name, which is in parentheses and may hold spaces.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pg_ctlcluster(cluster: tuple[str, str], action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action], check=True, timeout=60
    )


def _wait_ready(urls: tuple[str, ...], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{url}/readyz did not answer ready")
            time.sleep(0.2)


def _postgres_cluster() -> tuple[str, str]:
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("pg_ctlcluster is not here: the PostgreSQL server is not this machine's")
    versions = sorted(Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        pytest.skip("no PostgreSQL cluster configured on this machine")
    return versions[-1].name, "main"
