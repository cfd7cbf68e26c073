"""The job queue on Amazon SQS (or ElasticMQ, LocalStack, moto).

A message only names a video; the database says what its job needs. Messages come from the
upload service (``{"video_id": ...}``) or, in trigger mode, from S3's ObjectCreated
notifications on the source objects, delivered straight or through SNS.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from vodstack import errors
from vodstack.adapters import aws
from vodstack.ports import Delivery

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)

T = TypeVar("T")

_SOURCE_KEY = re.compile(r"sources/([0-9a-f]{32})/source")
_VIDEO_ID = re.compile(r"[0-9a-f]{32}")
_MAX_VISIBILITY = 12 * 3600  # SQS's limit
_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class SqsQueue:
    def __init__(self, url: str, client: SQSClient, source_prefix: str = "") -> None:
        self.url = url
        self._client = client
        self._source_prefix = source_prefix
        self._dead_letter_url: str | None = None
        # Long polls hold a thread each for up to 20 s: keep them off the default pool,
        # which the storage adapter's transfers use.
        self._threads = ThreadPoolExecutor(max_workers=32, thread_name_prefix="sqs")

    async def send(self, video_id: str) -> None:
        await self._call(
            self._client.send_message,
            QueueUrl=self.url,
            MessageBody=json.dumps({"video_id": video_id}),
        )

    async def receive(self, wait_seconds: float) -> Delivery | None:
        answer = await self._call(
            self._client.receive_message,
            QueueUrl=self.url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=max(0, min(20, math.ceil(wait_seconds))),
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        for message in answer.get("Messages", []):
            body = message.get("Body", "")
            return Delivery(
                video_id=video_of(body, self._source_prefix),
                receipt=message["ReceiptHandle"],
                receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                body=body,
            )
        return None

    async def extend(self, delivery: Delivery, seconds: float) -> None:
        await self._set_visibility(delivery, seconds)

    async def release(self, delivery: Delivery, delay_seconds: float) -> None:
        await self._set_visibility(delivery, delay_seconds)

    async def ack(self, delivery: Delivery) -> None:
        await self._call(
            self._client.delete_message, QueueUrl=self.url, ReceiptHandle=delivery.receipt
        )

    async def dead_letter(self, delivery: Delivery) -> None:
        target = await self._dead_letter_queue()
        if target is None:
            log.warning("queue %s has no dead-letter queue; deleting the message", self.url)
        else:
            await self._call(self._client.send_message, QueueUrl=target, MessageBody=delivery.body)
        await self.ack(delivery)

    async def check(self) -> None:
        try:
            await self._call(
                self._client.get_queue_attributes, QueueUrl=self.url, AttributeNames=["All"]
            )
        except errors.BackendUnavailable as exc:
            raise errors.ConfigurationError(exc.message) from None

    async def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _dead_letter_queue(self) -> str | None:
        if self._dead_letter_url is None:
            answer = await self._call(
                self._client.get_queue_attributes,
                QueueUrl=self.url,
                AttributeNames=["RedrivePolicy"],
            )
            policy = answer.get("Attributes", {}).get("RedrivePolicy")
            if not policy:
                return None
            name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1]
            found = await self._call(self._client.get_queue_url, QueueName=name)
            self._dead_letter_url = found["QueueUrl"]
        return self._dead_letter_url

    async def _set_visibility(self, delivery: Delivery, seconds: float) -> None:
        timeout = max(0, min(_MAX_VISIBILITY, math.ceil(seconds)))
        await self._call(
            self._client.change_message_visibility,
            QueueUrl=self.url,
            ReceiptHandle=delivery.receipt,
            VisibilityTimeout=timeout,
        )

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, functools.partial(fn, *args, **kwargs))
        except Exception as exc:
            raise _translate(exc, self.url) from exc


def _translate(exc: Exception, url: str) -> Exception:
    if isinstance(exc, ClientError) and aws.error_code(exc) in _MISSING_QUEUE:
        return errors.ConfigurationError(f"SQS queue {url} does not exist (VODSTACK_QUEUE_URL)")
    translated = aws.translate(exc, f"SQS queue {url}", errors.QueueUnavailable)
    if isinstance(translated, errors.VodstackError):
        return translated
    return errors.QueueUnavailable(f"SQS queue {url}: {exc}")


def video_of(body: str, source_prefix: str = "") -> str | None:
    """The video a message names, or None when it is not one of ours (an S3 test event,
    another application's message, or garbage)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    video_id = data.get("video_id")
    if isinstance(video_id, str):
        return video_id if _VIDEO_ID.fullmatch(video_id) else None
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        return video_of(data["Message"], source_prefix)  # S3 -> SNS -> SQS
    records = data.get("Records")
    if not isinstance(records, list):
        return None  # includes S3's {"Event": "s3:TestEvent"}
    for record in records:
        if not isinstance(record, dict):
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3")
        stored = s3.get("object") if isinstance(s3, dict) else None
        key = stored.get("key") if isinstance(stored, dict) else None
        if not isinstance(key, str):
            continue
        key = unquote_plus(key)  # S3 events carry keys URL-encoded
        if source_prefix and not key.startswith(source_prefix):
            continue
        match = _SOURCE_KEY.fullmatch(key[len(source_prefix) :])
        if match:
            return match.group(1)
    return None
