"""One contract, every webhook store: the outbox rows written with the changes they tell
of, the leases of the delivery loop, and each endpoint's own calls."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.contract.conftest import FakeClock, StoresFactory
from tests.support.db import add_queued_video
from tests.support.parts import part_output, split_plan
from vodstack.domain.accounts import User
from vodstack.domain.webhooks import (
    ALL_EVENTS,
    Attempt,
    DeliveryStatus,
    Endpoint,
    EventType,
    Outcome,
    new_secret,
    outcome,
)
from vodstack.ports import Stores

OWNER = User("1" * 32, "owner", False)
OTHER = User("2" * 32, "other", False)
LEASE = 60.0


@pytest.fixture(autouse=True)
async def users(stores: Stores, clock: FakeClock) -> None:
    for n, user in enumerate((OWNER, OTHER)):
        await stores.accounts.create_user(user, f"{n:016x}", "hash", clock.now)


async def _endpoint(
    stores: Stores,
    clock: FakeClock,
    owner: User = OWNER,
    events: tuple[EventType, ...] = ALL_EVENTS,
) -> Endpoint:
    endpoint = Endpoint(
        id=f"{len(await stores.webhooks.endpoints(owner.id))}{owner.id}"[:32],
        owner_id=owner.id,
        url="https://hooks.example.com/in",
        events=events,
        secret=new_secret(),
        created_at=clock.now,
    )
    await stores.webhooks.create(endpoint)
    return endpoint


async def _types(stores: Stores, endpoint: Endpoint) -> list[str]:
    found = await stores.webhooks.deliveries(endpoint.id)
    return sorted(d.event_type for d in found)


async def test_upload_ready_and_delete_are_written_for_the_owners_endpoints(
    stores: Stores, clock: FakeClock
) -> None:
    mine = await _endpoint(stores, clock)
    only_ready = await _endpoint(stores, clock, events=(EventType.READY,))
    theirs = await _endpoint(stores, clock, owner=OTHER)
    video_id = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.publish(lease, [], 2.0, "libx264")
    await stores.videos.delete(video_id, clock.now)
    assert await _types(stores, mine) == ["video.deleted", "video.ready", "video.uploaded"]
    assert await _types(stores, only_ready) == ["video.ready"]
    assert await _types(stores, theirs) == []
    ready = [d for d in await stores.webhooks.deliveries(mine.id) if d.event_type == "video.ready"]
    body = json.loads(ready[0].payload)
    assert body["type"] == "video.ready"
    assert body["data"]["video"]["id"] == video_id
    assert body["data"]["video"]["status"] == "ready"
    assert ready[0].status is DeliveryStatus.PENDING


async def test_a_failure_carries_its_reason(stores: Stores, clock: FakeClock) -> None:
    endpoint = await _endpoint(stores, clock, events=(EventType.FAILED,))
    video_id = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.fail(lease, "not a video")
    (failed,) = await stores.webhooks.deliveries(endpoint.id)
    assert json.loads(failed.payload)["data"]["video"]["error"] == "not a video"


async def test_a_split_video_is_playable_once_then_ready(stores: Stores, clock: FakeClock) -> None:
    endpoint = await _endpoint(stores, clock, events=(EventType.PLAYABLE, EventType.READY))
    plan = split_plan()
    await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    parent = await stores.jobs.claim("planner")
    assert parent is not None
    assert await stores.jobs.split(parent, plan)
    leases = {}
    while (lease := await stores.jobs.claim("w")) is not None:
        assert lease.part is not None
        leases[lease.part] = lease
    assert await stores.jobs.publish_part(leases["c0t1"], part_output(plan, "c0t1"))
    assert await stores.jobs.publish_part(leases["audio"], part_output(plan, "audio", segments=1))
    assert await _types(stores, endpoint) == ["video.playable"]
    for key in ("audio", "c1t1", "c2t1", "c0t2", "c1t2", "c2t2"):
        assert await stores.jobs.publish_part(leases[key], part_output(plan, key))
    assert await _types(stores, endpoint) == ["video.playable", "video.ready"]


async def test_a_delivery_is_leased_to_one_sender_and_retried_on_schedule(
    open_stores: StoresFactory, clock: FakeClock
) -> None:
    one, two = open_stores(clock), open_stores(clock)
    endpoint = await _endpoint(one, clock, events=(EventType.UPLOADED,))
    await add_queued_video(one, clock.now, owner_id=OWNER.id)
    claimed = await one.webhooks.claim("a", clock.now, LEASE)
    assert claimed is not None
    delivery, found = claimed
    assert found.id == endpoint.id
    assert await two.webhooks.claim("b", clock.now, LEASE) is None, "leased to a"
    failed = Attempt(clock.now, 500, None, "oops")
    step = outcome(500, 1, clock.now)
    assert not await two.webhooks.settle(delivery, "b", failed, step), "not b's"
    assert await one.webhooks.settle(delivery, "a", failed, step)
    assert await two.webhooks.claim("b", clock.now, LEASE) is None, "not due yet"
    clock.advance(5)
    again = await two.webhooks.claim("b", clock.now, LEASE)
    assert again is not None
    assert again[0].id == delivery.id, "the same webhook-id"
    assert again[0].attempts == 1
    ok = Attempt(clock.now, 200, None, "")
    assert await two.webhooks.settle(again[0], "b", ok, outcome(200, 2, clock.now))
    (listed,) = await one.webhooks.deliveries(endpoint.id)
    assert listed.status is DeliveryStatus.DELIVERED
    assert [(a.status_code, a.excerpt) for a in listed.history] == [(500, "oops"), (200, "")]


async def test_a_dead_senders_lease_is_taken_over(
    open_stores: StoresFactory, clock: FakeClock
) -> None:
    one, two = open_stores(clock), open_stores(clock)
    await _endpoint(one, clock, events=(EventType.UPLOADED,))
    await add_queued_video(one, clock.now, owner_id=OWNER.id)
    assert await one.webhooks.claim("dead", clock.now, LEASE) is not None
    clock.advance(LEASE + 1)
    taken = await two.webhooks.claim("b", clock.now, LEASE)
    assert taken is not None
    stale = Attempt(clock.now, 200, None, "")
    assert not await one.webhooks.settle(taken[0], "dead", stale, outcome(200, 1, clock.now))


async def test_a_gone_receiver_disables_its_endpoint(stores: Stores, clock: FakeClock) -> None:
    endpoint = await _endpoint(stores, clock, events=(EventType.UPLOADED, EventType.READY))
    video_id = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    claimed = await stores.webhooks.claim("a", clock.now, LEASE)
    assert claimed is not None
    gone = outcome(410, 1, clock.now)
    assert await stores.webhooks.settle(claimed[0], "a", Attempt(clock.now, 410, None), gone)
    found = await stores.webhooks.endpoint(endpoint.id)
    assert found is not None
    assert not found.enabled
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert await stores.jobs.publish(lease, [], 1.0, "libx264")
    assert await _types(stores, endpoint) == ["video.uploaded"], "nothing more is written"


async def test_redeliver_rotate_and_remove(stores: Stores, clock: FakeClock) -> None:
    endpoint = await _endpoint(stores, clock, events=(EventType.UPLOADED,))
    await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    claimed = await stores.webhooks.claim("a", clock.now, LEASE)
    assert claimed is not None
    done = Outcome(DeliveryStatus.FAILED, None)
    assert await stores.webhooks.settle(claimed[0], "a", Attempt(clock.now, 500, None), done)
    assert await stores.webhooks.claim("a", clock.now, LEASE) is None
    assert not await stores.webhooks.redeliver("other", claimed[0].id, clock.now)
    assert await stores.webhooks.redeliver(endpoint.id, claimed[0].id, clock.now)
    again = await stores.webhooks.claim("a", clock.now, LEASE)
    assert again is not None
    assert again[0].id == claimed[0].id
    new = new_secret()
    rotated = await stores.webhooks.rotate(endpoint.id, new, clock.now)
    assert rotated is not None
    assert rotated.secrets_at(clock.now) == (new, endpoint.secret)
    assert rotated.secrets_at(clock.now + timedelta(hours=25)) == (new,)
    assert await stores.webhooks.rotate("missing", new, clock.now) is None
    assert [e.id for e in await stores.webhooks.endpoints(OWNER.id)] == [endpoint.id]
    assert await stores.webhooks.remove(endpoint.id)
    assert not await stores.webhooks.remove(endpoint.id)
    assert await stores.webhooks.endpoints(OWNER.id) == []
    assert await stores.webhooks.deliveries(endpoint.id) == []


async def test_settled_deliveries_older_than_the_cutoff_are_pruned(
    stores: Stores, clock: FakeClock
) -> None:
    endpoint = await _endpoint(stores, clock)
    old_video = await add_queued_video(stores, clock.now, owner_id=OWNER.id)  # video.uploaded
    clock.advance(1)
    await stores.videos.delete(old_video, clock.now)  # and video.deleted
    claimed = await stores.webhooks.claim("a", clock.now, LEASE)  # the older: uploaded
    assert claimed is not None
    assert claimed[0].event_type == "video.uploaded"
    ok = Attempt(clock.now, 200, None)
    assert await stores.webhooks.settle(claimed[0], "a", ok, outcome(200, 1, clock.now))
    clock.advance(40 * 86400)
    recent = await add_queued_video(stores, clock.now, owner_id=OWNER.id)
    cutoff = clock.now - timedelta(days=30)
    # The delivered one goes, with its attempts; the old one still pending stays, and so
    # does the recent one.
    assert await stores.webhooks.prune(cutoff) == 1
    left = await stores.webhooks.deliveries(endpoint.id)
    assert sorted(d.event_type for d in left) == ["video.deleted", "video.uploaded"]
    assert all(d.status is DeliveryStatus.PENDING for d in left)
    assert any(recent in d.payload for d in left)
    assert await stores.webhooks.prune(cutoff) == 0
