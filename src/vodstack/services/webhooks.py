"""Webhooks: a user's endpoints (each call checked against who asks), and the delivery
loop that sends the outbox.

Any number of processes may run the loop: a delivery is leased to one at a time, and a
lease that runs out (its process died mid-send) is taken over, so each event is sent at
least once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import Scope, User, can_manage, require_scope
from vodstack.domain.webhooks import (
    ALL_EVENTS,
    Attempt,
    DeliveryStatus,
    Endpoint,
    EventType,
    Outcome,
    WebhookDelivery,
    headers,
    new_secret,
    outcome,
)
from vodstack.ports import SendResult, WebhookSender, WebhookStore

log = logging.getLogger(__name__)

# Each endpoint multiplies every event of its owner's: a bound keeps one user from making
# the delivery loop everyone shares do a thousand sends per change.
MAX_ENDPOINTS = 20


class WebhookService:
    def __init__(self, store: WebhookStore, sender: WebhookSender, clock: Clock = utc_now) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock

    async def register(self, actor: User, url: str, events: Sequence[str] | None) -> Endpoint:
        require_scope(actor, Scope.MANAGE)
        if len(await self._store.endpoints(actor.id)) >= MAX_ENDPOINTS:
            raise errors.InvalidRequest(f"a user may have at most {MAX_ENDPOINTS} webhooks")
        problem = await self._sender.addresses_problem(url)
        if problem is not None:
            raise errors.InvalidRequest(problem)
        try:
            chosen = (
                ALL_EVENTS if not events else tuple(dict.fromkeys(EventType(e) for e in events))
            )
        except ValueError as exc:
            known = ", ".join(ALL_EVENTS)
            raise errors.InvalidRequest(f"unknown event; the events are {known}") from exc
        endpoint = Endpoint(
            id=uuid.uuid4().hex,
            owner_id=actor.id,
            url=url,
            events=chosen,
            secret=new_secret(),
            created_at=self._clock(),
        )
        await self._store.create(endpoint)
        return endpoint

    async def endpoints(self, actor: User) -> list[Endpoint]:
        require_scope(actor, Scope.READ)
        return await self._store.endpoints(actor.id)

    async def owned(self, endpoint_id: str, actor: User, scope: Scope = Scope.MANAGE) -> Endpoint:
        """The endpoint, if ``actor``'s (or an admin asks); else as if it did not exist.
        The caller's key must also have ``scope``."""
        require_scope(actor, scope)
        endpoint = await self._store.endpoint(endpoint_id)
        if endpoint is None or not can_manage(actor, endpoint.owner_id):
            raise errors.NotFound(f"no webhook with id {endpoint_id!r}")
        return endpoint

    async def remove(self, endpoint_id: str, actor: User) -> None:
        await self.owned(endpoint_id, actor)
        await self._store.remove(endpoint_id)

    async def rotate(self, endpoint_id: str, actor: User) -> Endpoint:
        await self.owned(endpoint_id, actor)
        rotated = await self._store.rotate(endpoint_id, new_secret(), self._clock())
        if rotated is None:
            raise errors.NotFound(f"no webhook with id {endpoint_id!r}")
        return rotated

    async def deliveries(self, endpoint_id: str, actor: User, limit: int) -> list[WebhookDelivery]:
        await self.owned(endpoint_id, actor, Scope.READ)
        return await self._store.deliveries(endpoint_id, limit)

    async def redeliver(self, endpoint_id: str, delivery_id: str, actor: User) -> None:
        await self.owned(endpoint_id, actor)
        if not await self._store.redeliver(endpoint_id, delivery_id, self._clock()):
            raise errors.NotFound(f"no delivery with id {delivery_id!r}")


class Deliverer:
    """Sends due deliveries, one at a time, and schedules each failed one's next try."""

    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        *,
        name: str,
        retry_scale: float = 1.0,
        timeout_seconds: float = 15.0,
        poll_seconds: float = 1.0,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._sender = sender
        self._name = name
        self._scale = retry_scale
        # Longer than any one attempt can take, so a live sender keeps its delivery.
        self._lease = timeout_seconds * 2 + 30
        self._poll = poll_seconds
        self._clock = clock

    async def deliver_one(self) -> bool:
        """Send the oldest due delivery; False when none was due."""
        now = self._clock()
        claimed = await self._store.claim(self._name, now, self._lease)
        if claimed is None:
            return False
        delivery, endpoint = claimed
        if endpoint.enabled:
            stamp = int(now.timestamp())
            signed = headers(endpoint.secrets_at(now), delivery.id, stamp, delivery.payload)
            result = await self._sender.send(endpoint.url, signed, delivery.payload)
        else:
            result = SendResult(None, "the webhook is disabled")
        at = self._clock()
        if endpoint.enabled:
            next_step = outcome(result.status_code, delivery.attempts + 1, at, self._scale)
        else:
            next_step = Outcome(DeliveryStatus.FAILED, None)
        attempt = Attempt(at, result.status_code, result.error, result.excerpt)
        await self._store.settle(delivery, self._name, attempt, next_step)
        return True

    async def run(self) -> None:
        """Until cancelled: a failure (the database away) is logged and tried again."""
        while True:
            try:
                busy = await self.deliver_one()
            except Exception as exc:
                log.warning("webhook delivery failed: %s", exc)
                busy = False
            if not busy:
                await asyncio.sleep(self._poll)


# Old deliveries are looked for this often: a query that finds nothing most of the time.
PRUNE_SECONDS = 3600.0


async def prune_deliveries(
    store: WebhookStore, retention: timedelta, clock: Clock = utc_now
) -> int:
    """Remove the settled deliveries older than ``retention``; how many."""
    return await store.prune(clock() - retention)


async def keep_pruning(
    store: WebhookStore,
    retention: timedelta,
    every: float = PRUNE_SECONDS,
    clock: Clock = utc_now,
) -> None:
    """Until cancelled: old settled deliveries removed now, then every ``every`` seconds.
    Every process may run it: removing what another removed first changes nothing."""
    while True:
        try:
            removed = await prune_deliveries(store, retention, clock)
        except Exception as exc:  # the database away: next time
            log.warning("could not remove old webhook deliveries: %s", exc)
        else:
            if removed:
                log.info("removed %d webhook deliveries older than %s", removed, retention)
        await asyncio.sleep(every)
