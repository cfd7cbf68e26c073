"""Build the job queue that ``VODSTACK_QUEUE_URL`` names: SQS, or the database itself."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack import errors
from vodstack.adapters.queue_db import LocalWakeup, PostgresWakeup
from vodstack.ports import JobSignal, Queue, Wakeup
from vodstack.settings import Settings

log = logging.getLogger(__name__)


def open_queue(settings: Settings) -> Queue | None:
    """The SQS queue, or None when the database is the queue."""
    if not settings.uses_sqs:
        return None
    queue = urlparse(settings.queue_url)
    if queue.scheme not in ("http", "https") or not queue.netloc or not queue.path.strip("/"):
        raise errors.ConfigurationError(
            f"VODSTACK_QUEUE_URL {settings.queue_url!r}: expected 'database' or an SQS queue "
            "URL such as https://sqs.us-east-1.amazonaws.com/123456789012/vodstack-jobs"
        )
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


class _Announcer:
    """Announcing a job follows its commit, so a failure only delays the job until an idle
    worker's look into the database finds it: it is logged, and never fails the request
    that committed the job."""

    def __init__(self, signal: JobSignal) -> None:
        self._signal = signal

    async def send(self, video_id: str) -> None:
        try:
            await self._signal.send(video_id)
        except Exception as exc:
            log.warning("could not announce the job of video %s: %s", video_id, exc)


def job_signal(settings: Settings, queue: Queue | None, wakeup: Wakeup) -> JobSignal:
    """Who tells workers about a completed upload or a retry: the SQS queue, nobody (S3's
    own event notifications feed the queue), or the database wakeup."""
    if queue is None:
        return _Announcer(wakeup)
    if settings.queue_trigger == "s3-events":
        return _Silent()
    return _Announcer(queue)
