"""The webhook service and delivery loop over the in-memory stores and a fake sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.db import add_queued_video
from vodstack import errors
from vodstack.adapters.stores_memory import memory_stores
from vodstack.domain.accounts import User
from vodstack.domain.webhooks import DeliveryStatus, sign
from vodstack.ports import SendResult, Stores
from vodstack.services.webhooks import MAX_ENDPOINTS, Deliverer, WebhookService

OWNER = User("1" * 32, "owner", False)
OTHER = User("2" * 32, "other", False)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeSender:
    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.sent: list[tuple[str, dict[str, str], str]] = []

    async def addresses_problem(self, url: str) -> str | None:
        return "a loopback address" if "127.0.0.1" in url else None

    async def send(self, url: str, headers: dict[str, str], body: str) -> SendResult:
        self.sent.append((url, headers, body))
        return SendResult(self.codes.pop(0) if self.codes else 200)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def stores(clock: Clock) -> Stores:
    made = memory_stores(clock=clock)
    for n, user in enumerate((OWNER, OTHER)):
        await made.accounts.create_user(user, f"{n:016x}", "hash", clock.now)
    return made


async def test_registration_checks_the_url_and_the_events(stores: Stores, clock: Clock) -> None:
    service = WebhookService(stores.webhooks, FakeSender(), clock)
    with pytest.raises(errors.InvalidRequest, match="loopback"):
        await service.register(OWNER, "http://127.0.0.1/", None)
    with pytest.raises(errors.InvalidRequest, match="unknown event"):
        await service.register(OWNER, "https://x.example/", ["video.exploded"])
    made = await service.register(OWNER, "https://x.example/", ["video.ready"])
    assert [e.id for e in await service.endpoints(OWNER)] == [made.id]
    with pytest.raises(errors.NotFound):
        await service.remove(made.id, OTHER)
    for _ in range(MAX_ENDPOINTS - 1):
        await service.register(OWNER, "https://x.example/", None)
    with pytest.raises(errors.InvalidRequest, match="at most"):
        await service.register(OWNER, "https://x.example/", None)


async def test_a_failed_try_is_retried_with_the_same_id_and_signed_by_both_secrets(
    stores: Stores, clock: Clock
) -> None:
    sender = FakeSender(500)
    service = WebhookService(stores.webhooks, sender, clock)
    endpoint = await service.register(OWNER, "https://x.example/", ["video.uploaded"])
    rotated = await service.rotate(endpoint.id, OWNER)
    deliverer = Deliverer(stores.webhooks, sender, name="d", clock=clock)
    await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    assert await deliverer.deliver_one()
    assert not await deliverer.deliver_one(), "not due for 5 s"
    clock.now += timedelta(seconds=5)
    assert await deliverer.deliver_one()
    (first, second) = sender.sent
    assert first[1]["webhook-id"] == second[1]["webhook-id"]
    _, headers, body = second
    stamp = int(headers["webhook-timestamp"])
    expected = [
        sign(s, headers["webhook-id"], stamp, body) for s in (rotated.secret, endpoint.secret)
    ]
    assert headers["webhook-signature"].split(" ") == expected
    (delivery,) = await service.deliveries(endpoint.id, OWNER, 10)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert [a.status_code for a in delivery.history] == [500, 200]
    await service.redeliver(endpoint.id, delivery.id, OWNER)
    assert await deliverer.deliver_one()
    with pytest.raises(errors.NotFound):
        await service.redeliver(endpoint.id, "msg_missing", OWNER)
