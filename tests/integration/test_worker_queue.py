"""The worker fed by a message queue, on a real database: a message is deleted only once
its job's outcome is committed, duplicates and strangers do no work, a job whose message
was lost is still done, and a job that gives up lands in the dead-letter queue. The last
test runs S3's own event notifications into SQS (moto's server)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SYSTEM
from tests.support.aws import Moto
from tests.support.db import add_video
from vodstack.adapters.queue_memory import MemoryQueue
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.transcoder_fake import FakeTranscoder
from vodstack.api import create_app
from vodstack.db import sql_stores
from vodstack.ports import Delivery, JobStore, Queue
from vodstack.runtime import build_worker, open_backends
from vodstack.services.processing import Processor
from vodstack.settings import MiB, Settings
from vodstack.worker import Worker
from vodstack.worker.sources import QueueSource


def queue_worker(
    engine: AsyncEngine,
    storage: MemoryStorage,
    queue: Queue,
    tmp: Path,
    transcoder: FakeTranscoder | None = None,
) -> tuple[Worker, JobStore]:
    store = sql_stores(engine, 5.0).jobs
    processor = Processor(
        store, storage, transcoder or FakeTranscoder(), tmp / uuid.uuid4().hex, 5.0, 0.2
    )
    source = QueueSource(
        queue, store, lease_seconds=5.0, poll_seconds=1.0, wait_seconds=0.2, sweep_seconds=30
    )
    worker = Worker(source, processor.run, once=True, heartbeat_seconds=0.2)
    return worker, store


async def status(store: JobStore, video_id: str) -> str:
    job = await store.view(video_id)
    assert job is not None
    return str(job.state.status)


async def test_a_message_is_deleted_only_after_the_job_is_published(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    queue = MemoryQueue()
    video_id = await add_video(sql_stores(engine, 5.0), storage)
    await queue.send(video_id)
    await queue.send(video_id)  # SQS may deliver twice; a second complete sends again
    worker, store = queue_worker(engine, storage, queue, tmp_path)
    await worker.run()
    assert await status(store, video_id) == "ready"
    assert worker.processed == 1
    assert queue.pending() == 0
    claims = [e for e in await store.events(video_id) if e.kind == "claimed"]
    assert len(claims) == 1


async def test_strangers_are_dropped_and_the_worker_goes_on(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    queue = MemoryQueue()
    for body in ("garbage", json.dumps({"Event": "s3:TestEvent"}), '{"video_id": 7}'):
        queue.put(body)
    await queue.send(uuid.uuid4().hex)  # a video that does not exist (deleted, aborted)
    video_id = await add_video(sql_stores(engine, 5.0), storage)
    await queue.send(video_id)
    worker, store = queue_worker(engine, storage, queue, tmp_path)
    await worker.run()
    assert await status(store, video_id) == "ready"
    assert queue.pending() == 0
    assert queue.dead_letters == []


async def test_a_job_whose_message_was_lost_is_found_in_the_database(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    video_id = await add_video(
        sql_stores(engine, 5.0), storage
    )  # committed, but no message was sent
    worker, store = queue_worker(engine, storage, MemoryQueue(), tmp_path)
    await worker.run()
    assert await status(store, video_id) == "ready"


async def test_a_job_that_gives_up_lands_in_the_dead_letter_queue(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    queue = MemoryQueue()
    video_id = await add_video(sql_stores(engine, 5.0), storage, max_attempts=1)
    await queue.send(video_id)
    worker, store = queue_worker(
        engine, storage, queue, tmp_path, FakeTranscoder(fail="the encoder crashed")
    )
    await worker.run()
    assert await status(store, video_id) == "failed"
    assert [json.loads(b)["video_id"] for b in queue.dead_letters] == [video_id]
    assert queue.pending() == 0


async def test_a_retry_keeps_the_message_hidden_for_the_backoff(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    queue = MemoryQueue()
    video_id = await add_video(sql_stores(engine, 5.0), storage, max_attempts=3)
    await queue.send(video_id)
    worker, store = queue_worker(
        engine, storage, queue, tmp_path, FakeTranscoder(fail="a network blip", fail_times=1)
    )
    await worker.run()
    assert await status(store, video_id) == "queued"
    assert queue.pending() == 1  # kept, for the next attempt...
    assert await queue.receive(wait_seconds=0) is None  # ...after the backoff


@pytest.mark.postgres
async def test_s3_event_notifications_feed_the_queue(
    moto: Moto, postgres_database: str, tmp_path: Path
) -> None:
    """Trigger mode: the upload service sends nothing; S3's ObjectCreated event on the
    source (and the test event S3 sends when the notification is configured) reach the
    worker, which transcodes the video once and deletes both messages."""
    bucket, queue_url = moto.bucket(), moto.queue()
    sqs, s3 = moto.sqs(), moto.s3()
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": "vod/sources/"}]}
                    },
                }
            ]
        },
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_database,
        storage_url=f"s3://{bucket}/vod",
        s3_endpoint_url=moto.endpoint,
        queue_url=queue_url,
        queue_trigger="s3-events",
        queue_wait_seconds=1,
        public_url="http://testserver",
        part_size=5 * MiB,
        _env_file=None,
    )
    app = create_app(settings, "upload")
    body = b"not really a video, but the fake transcoder does not mind"
    async with app.router.lifespan_context(app):
        _, key = await app.state.services.accounts.create_user("uploader", False, SYSTEM)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        ) as api:
            created = (
                await api.post("/v1/uploads", json={"filename": "a.mp4", "size": len(body)})
            ).json()
            part = (
                await api.post(
                    f"/v1/uploads/{created['upload_id']}/parts", json={"part_numbers": [1]}
                )
            ).json()["parts"][0]
            async with httpx.AsyncClient() as direct:
                sent = await direct.put(part["url"], content=body)
            completed = await api.post(
                f"/v1/uploads/{created['upload_id']}/complete",
                json={"parts": [{"part_number": 1, "etag": sent.headers["ETag"]}]},
            )
            assert completed.status_code == 202
    async with open_backends(settings) as backends:
        worker = build_worker(backends, transcoder=FakeTranscoder(), once=True)
        await asyncio.wait_for(worker.run(), 60)
        store = backends.stores.jobs
        assert await status(store, created["video_id"]) == "ready"
        claims = [e for e in await store.events(created["video_id"]) if e.kind == "claimed"]
        assert len(claims) == 1
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert set(left.values()) == {"0"}


class CountingQueue(MemoryQueue):
    def __init__(self) -> None:
        super().__init__()
        self.extensions: list[float] = []

    async def extend(self, delivery: Delivery, seconds: float) -> None:
        self.extensions.append(seconds)
        await super().extend(delivery, seconds)


async def test_every_heartbeat_keeps_the_message_hidden(
    engine: AsyncEngine, storage: MemoryStorage, tmp_path: Path
) -> None:
    queue = CountingQueue()
    video_id = await add_video(sql_stores(engine, 5.0), storage)
    await queue.send(video_id)
    worker, store = queue_worker(engine, storage, queue, tmp_path, FakeTranscoder(seconds=1.5))
    await worker.run()
    assert await status(store, video_id) == "ready"
    # One on the claim, then one per heartbeat (every 0.2 s) while the 1.5 s encode runs;
    # each hides the message for a lease (5 s) and a margin.
    assert len(queue.extensions) >= 4
    assert all(5 < s <= 10 for s in queue.extensions)
