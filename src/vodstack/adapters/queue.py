"""Build the job queue that ``VODSTACK_QUEUE_URL`` names: SQS, or the database itself."""

from __future__ import annotations

from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.adapters.queue_db import LocalWakeup, PostgresWakeup
from vodstack.ports import JobSignal, Queue, Wakeup
from vodstack.settings import Settings


def open_queue(settings: Settings) -> Queue | None:
    """The SQS queue, or None when the database is the queue."""
    if not settings.uses_sqs:
        return None
    from vodstack.adapters import aws
    from vodstack.adapters.queue_sqs import SqsQueue

    storage = urlparse(settings.storage_url)
    prefix = storage.path.strip("/")
    source_prefix = f"{prefix}/" if storage.scheme == "s3" and prefix else ""
    return SqsQueue(settings.queue_url, aws.sqs_client(settings, settings.queue_url), source_prefix)


def open_wakeup(engine: AsyncEngine) -> Wakeup:
    if engine.dialect.name == "postgresql":
        return PostgresWakeup(engine, engine.url.render_as_string(hide_password=False))
    return LocalWakeup()


class _Silent:
    async def send(self, video_id: str) -> None:
        return None


def job_signal(settings: Settings, queue: Queue | None, wakeup: Wakeup) -> JobSignal:
    """Who tells workers about a completed upload: the SQS queue, nobody (S3's own event
    notifications feed the queue), or the database wakeup."""
    if queue is None:
        return wakeup
    if settings.queue_trigger == "s3-events":
        return _Silent()
    return queue
