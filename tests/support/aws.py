"""A real S3/SQS endpoint on loopback (moto's server, the engine LocalStack wraps), and the
buckets and queues that tests need, created the way an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import httpx

from tests.support.processes import free_port
from vodstack.adapters.aws import s3_client
from vodstack.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Moto:
    endpoint: str

    def s3(self) -> S3Client:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def sqs(self) -> SQSClient:
        return boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")

    def bucket(self) -> str:
        name = f"vodstack-{uuid.uuid4().hex[:12]}"
        self.s3().create_bucket(Bucket=name)
        return name

    def queue(self, max_receive_count: int = 5, visibility: int = 90) -> str:
        """A job queue with its dead-letter queue, as the deployment docs set them up."""
        sqs = self.sqs()
        name = f"vodstack-{uuid.uuid4().hex[:12]}"
        dead = sqs.create_queue(QueueName=f"{name}-dead")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        policy = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": str(max_receive_count)}
        return sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(policy),
            },
        )["QueueUrl"]

    def dead_letter_bodies(self, queue_url: str) -> list[str]:
        sqs = self.sqs()
        dead = sqs.get_queue_url(QueueName=queue_url.rsplit("/", 1)[1] + "-dead")["QueueUrl"]
        found = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [m["Body"] for m in found.get("Messages", [])]


def s3_attempts_per_call() -> int:
    """How many requests vodstack's S3 client makes for one call before it gives up. Its
    config's max_attempts counts the retries after the first request: botocore resolves it
    to total_max_attempts, max_attempts + 1 (botocore/args.py), and keeps only that."""
    client = s3_client(Settings(s3_endpoint_url="http://127.0.0.1:9", _env_file=None))
    retries: dict[str, int] = client.meta.config.retries  # type: ignore[attr-defined]
    return retries["total_max_attempts"]


@contextmanager
def moto_server(extra_env: dict[str, str] | None = None) -> Iterator[Moto]:
    port = free_port()
    env = {**os.environ, **CREDENTIALS, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield Moto(endpoint)
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_empty_queue(moto: Moto, queue_url: str, timeout: float = 60) -> None:
    """Until no message is left in the queue, neither waiting nor in flight: a worker may
    still be handling a redelivered one, which it deletes once it sees the job is done."""
    deadline = time.monotonic() + timeout
    sqs = moto.sqs()
    while True:
        counts = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if set(counts.values()) == {"0"}:
            return
        assert time.monotonic() < deadline, f"messages left in the queue: {counts}"
        time.sleep(0.1)
