"""One contract, every message queue: SQS (moto's server) and its in-memory twin."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.aws import Moto
from vodstack import errors
from vodstack.adapters.aws import sqs_client
from vodstack.adapters.queue_memory import MemoryQueue
from vodstack.adapters.queue_sqs import SqsQueue
from vodstack.ports import Queue
from vodstack.settings import Settings

MAX_RECEIVES = 3


@dataclass
class QueueUnderTest:
    queue: Queue
    put_raw: Callable[[str], None]
    dead_letters: Callable[[], list[str]]


def _settings() -> Settings:
    return Settings(_env_file=None)


@pytest.fixture(params=["memory", "sqs"])
def subject(request: pytest.FixtureRequest) -> Iterator[QueueUnderTest]:
    if request.param == "memory":
        memory = MemoryQueue(max_receive_count=MAX_RECEIVES)
        yield QueueUnderTest(memory, memory.put, lambda: list(memory.dead_letters))
        return
    moto: Moto = request.getfixturevalue("moto")
    url = moto.queue(max_receive_count=MAX_RECEIVES)
    raw = moto.sqs()
    yield QueueUnderTest(
        SqsQueue(url, sqs_client(_settings(), url)),
        lambda body: raw.send_message(QueueUrl=url, MessageBody=body) and None,
        lambda: moto.dead_letter_bodies(url),
    )


def video_id() -> str:
    return uuid.uuid4().hex


async def test_a_message_names_its_video_and_stays_hidden_while_worked_on(
    subject: QueueUnderTest,
) -> None:
    queue, video = subject.queue, video_id()
    await queue.send(video)
    delivery = await queue.receive(wait_seconds=2)
    assert delivery is not None
    assert (delivery.video_id, delivery.receive_count) == (video, 1)
    await queue.extend(delivery, 60)
    assert await queue.receive(wait_seconds=0) is None
    await queue.ack(delivery)
    assert await queue.receive(wait_seconds=0) is None


async def test_a_released_message_comes_back_counted(subject: QueueUnderTest) -> None:
    queue, video = subject.queue, video_id()
    await queue.send(video)
    first = await queue.receive(wait_seconds=2)
    assert first is not None
    await queue.release(first, 0)
    again = await queue.receive(wait_seconds=2)
    assert again is not None
    assert (again.video_id, again.receive_count) == (video, 2)
    await queue.release(again, 30)
    assert await queue.receive(wait_seconds=1) is None


async def test_too_many_receives_move_a_message_to_the_dead_letter_queue(
    subject: QueueUnderTest,
) -> None:
    queue = subject.queue
    await queue.send(video_id())
    for _ in range(MAX_RECEIVES):
        delivery = await queue.receive(wait_seconds=2)
        assert delivery is not None
        await queue.release(delivery, 0)
    assert await queue.receive(wait_seconds=1) is None
    assert len(subject.dead_letters()) == 1


async def test_dead_letter_moves_the_message_at_once(subject: QueueUnderTest) -> None:
    queue, video = subject.queue, video_id()
    await queue.send(video)
    delivery = await queue.receive(wait_seconds=2)
    assert delivery is not None
    await queue.dead_letter(delivery)
    assert await queue.receive(wait_seconds=0) is None
    assert [json.loads(b)["video_id"] for b in subject.dead_letters()] == [video]


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", '{"video_id": "../../etc"}', '{"Event": "s3:TestEvent"}']
)
async def test_a_message_that_is_not_ours_names_no_video(
    subject: QueueUnderTest, body: str
) -> None:
    subject.put_raw(body)
    delivery = await subject.queue.receive(wait_seconds=2)
    assert delivery is not None
    assert delivery.video_id is None
    assert delivery.body == body
    await subject.queue.ack(delivery)


async def test_a_usable_queue_passes_its_check(subject: QueueUnderTest) -> None:
    await subject.queue.check()


async def test_a_missing_queue_is_named(moto: Moto) -> None:
    url = f"{moto.endpoint}/123456789012/no-such-queue"
    queue = SqsQueue(url, sqs_client(_settings(), url))
    with pytest.raises(errors.ConfigurationError, match="no-such-queue does not exist"):
        await queue.check()
    await queue.close()


async def test_wrong_credentials_are_named(moto_with_auth: Moto) -> None:
    url = f"{moto_with_auth.endpoint}/123456789012/jobs"
    queue = SqsQueue(url, sqs_client(_settings(), url))
    with pytest.raises(errors.ConfigurationError, match="refused the credentials"):
        await queue.check()
    await queue.close()
