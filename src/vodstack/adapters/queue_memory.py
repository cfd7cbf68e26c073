"""The in-memory twin of the SQS queue: visibility timeouts, receive counts and a
dead-letter list after ``max_receive_count`` receives, as SQS's redrive policy does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from vodstack.adapters.queue_sqs import video_of
from vodstack.ports import Delivery


@dataclass
class _Message:
    body: str
    visible_at: float
    receive_count: int = 0
    receipt: str = ""


class MemoryQueue:
    def __init__(
        self, max_receive_count: int = 5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_receive_count = max_receive_count
        self._clock = clock
        self._messages: dict[int, _Message] = {}
        self._ids = itertools.count()
        self._arrived = asyncio.Event()
        self.dead_letters: list[str] = []

    async def send(self, video_id: str) -> None:
        self.put(json.dumps({"video_id": video_id}))

    def put(self, body: str) -> None:
        """Any body at all, as another application (or S3) could send."""
        self._messages[next(self._ids)] = _Message(body, self._clock())
        self._arrived.set()

    async def receive(self, wait_seconds: float) -> Delivery | None:
        deadline = self._clock() + wait_seconds
        while True:
            now = self._clock()
            for message_id, message in sorted(self._messages.items()):
                if message.visible_at > now:
                    continue
                if message.receive_count >= self._max_receive_count:
                    self.dead_letters.append(message.body)
                    del self._messages[message_id]
                    continue
                message.receive_count += 1
                message.receipt = f"{message_id}:{uuid.uuid4().hex}"
                message.visible_at = now + 30  # SQS's default visibility timeout
                return Delivery(
                    video_of(message.body), message.receipt, message.receive_count, message.body
                )
            if now >= deadline:
                return None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(0.05, deadline - now))

    async def extend(self, delivery: Delivery, seconds: float) -> None:
        self._set_visibility(delivery, seconds)

    async def release(self, delivery: Delivery, delay_seconds: float) -> None:
        self._set_visibility(delivery, delay_seconds)

    async def ack(self, delivery: Delivery) -> None:
        found = self._find(delivery)
        if found is not None:
            del self._messages[found]

    async def dead_letter(self, delivery: Delivery) -> None:
        self.dead_letters.append(delivery.body)
        await self.ack(delivery)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def pending(self) -> int:
        return len(self._messages)

    def _set_visibility(self, delivery: Delivery, seconds: float) -> None:
        found = self._find(delivery)
        if found is not None:
            self._messages[found].visible_at = self._clock() + seconds
            self._arrived.set()

    def _find(self, delivery: Delivery) -> int | None:
        """A receipt handle is valid only until the message is received again."""
        message_id = int(delivery.receipt.split(":", 1)[0])
        message = self._messages.get(message_id)
        return message_id if message and message.receipt == delivery.receipt else None
