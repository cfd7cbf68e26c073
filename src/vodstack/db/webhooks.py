"""The SQL behind webhooks: endpoints, and the outbox of their deliveries.

The outbox holds one row per event and endpoint, fanned out when the event is written:
``emit`` runs inside the transaction of the change it tells of (an upload completing, a
job publishing or failing, a video deleted), so an event exists exactly when its change
does, and a delivery names the endpoints that wanted it then. Sending is the delivery
loop's (``services.webhooks``): it claims due rows with a guarded UPDATE and a lease, as
workers claim jobs, so any number of processes may run it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack.db.session import reading, transaction
from vodstack.db.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from vodstack.domain.videos import Video, VideoStatus
from vodstack.domain.webhooks import (
    ROTATION_GRACE,
    Attempt,
    DeliveryStatus,
    Endpoint,
    EventType,
    Outcome,
    WebhookDelivery,
    event_body,
    event_for,
)


def delivery_id() -> str:
    return "msg_" + uuid.uuid4().hex


async def emit(conn: AsyncConnection, video: Video, event: EventType, now: datetime) -> None:
    """One outbox row per endpoint of the video's owner that wants ``event``."""
    if video.owner_id is None:
        return
    rows = await conn.execute(
        select(webhook_endpoints).where(
            webhook_endpoints.c.owner_id == video.owner_id, webhook_endpoints.c.enabled
        )
    )
    wanting = [e for e in (_endpoint(r) for r in rows.mappings()) if e.wants(event)]
    if not wanting:
        return
    body = json.dumps(event_body(event, video, now), separators=(",", ":"))
    await conn.execute(
        insert(webhook_deliveries),
        [
            {
                "id": delivery_id(),
                "endpoint_id": e.id,
                "event_type": event.value,
                "payload": body,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_at": now,
                "created_at": now,
            }
            for e in wanting
        ],
    )


async def video_changed(
    conn: AsyncConnection, video_id: str, was: str | None, now: datetime
) -> None:
    """After a video's status changed from ``was``: its event, if the change is one."""
    from vodstack.db.videos import read_video  # db.videos reads through db.jobs

    video = await read_video(conn, video_id)
    if video is None:
        return
    event = event_for(None if was is None else VideoStatus(was), video.status)
    if event is not None:
        await emit(conn, video, event, now)


async def video_deleted(conn: AsyncConnection, video_id: str, now: datetime) -> None:
    """Before a video's rows go: its last event, with the video as it was."""
    from vodstack.db.videos import read_video

    video = await read_video(conn, video_id)
    if video is not None:
        await emit(conn, video, EventType.DELETED, now)


class SqlWebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, endpoint: Endpoint) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(
                insert(webhook_endpoints).values(
                    id=endpoint.id,
                    owner_id=endpoint.owner_id,
                    url=endpoint.url,
                    events=[e.value for e in endpoint.events],
                    secret=endpoint.secret,
                    enabled=endpoint.enabled,
                    created_at=endpoint.created_at,
                )
            )

    async def endpoints(self, owner_id: str) -> list[Endpoint]:
        query = (
            select(webhook_endpoints)
            .where(webhook_endpoints.c.owner_id == owner_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_endpoint(r) for r in rows]

    async def endpoint(self, endpoint_id: str) -> Endpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        async with reading(self._engine) as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _endpoint(row)

    async def remove(self, endpoint_id: str) -> bool:
        async with transaction(self._engine) as conn:
            owned = select(webhook_deliveries.c.id).where(
                webhook_deliveries.c.endpoint_id == endpoint_id
            )
            await conn.execute(
                delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(owned))
            )
            await conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
            )
            done = await conn.execute(
                delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            )
        return bool(done.rowcount == 1)

    async def rotate(self, endpoint_id: str, secret: str, now: datetime) -> Endpoint | None:
        async with transaction(self._engine) as conn:
            done = await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(
                    old_secret=webhook_endpoints.c.secret,
                    old_secret_until=now + ROTATION_GRACE,
                    secret=secret,
                )
            )
            if done.rowcount != 1:
                return None
            row = (
                (
                    await conn.execute(
                        select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
                    )
                )
                .mappings()
                .one()
            )
        return _endpoint(row)

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[WebhookDelivery]:
        query = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id)
            .limit(limit)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
            ids = [r["id"] for r in rows]
            tries = await conn.execute(
                select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id.in_(ids))
                .order_by(webhook_attempts.c.id)
            )
            history: dict[str, list[Attempt]] = {}
            for t in tries.mappings():
                history.setdefault(t["delivery_id"], []).append(
                    Attempt(t["at"], t["status_code"], t["error"], t["excerpt"])
                )
        return [_delivery(r, tuple(history.get(r["id"], ()))) for r in rows]

    async def redeliver(self, endpoint_id: str, delivery_id: str, now: datetime) -> bool:
        async with transaction(self._engine) as conn:
            done = await conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.endpoint_id == endpoint_id,
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    next_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        return bool(done.rowcount == 1)

    async def prune(self, before: datetime) -> int:
        settled = [DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]
        old = select(webhook_deliveries.c.id).where(
            webhook_deliveries.c.created_at < before, webhook_deliveries.c.status.in_(settled)
        )
        async with transaction(self._engine) as conn:
            await conn.execute(
                delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(old))
            )
            done = await conn.execute(
                delete(webhook_deliveries).where(
                    webhook_deliveries.c.created_at < before,
                    webhook_deliveries.c.status.in_(settled),
                )
            )
        return int(done.rowcount)

    async def claim(
        self, owner: str, now: datetime, lease_seconds: float
    ) -> tuple[WebhookDelivery, Endpoint] | None:
        d = webhook_deliveries.c
        due = and_(
            d.status == DeliveryStatus.PENDING.value,
            d.next_at <= now,
            or_(d.lease_expires_at.is_(None), d.lease_expires_at < now),
        )
        oldest = select(d.id).where(due).order_by(d.next_at, d.id).limit(1)
        # An idle loop only reads: on SQLite every write, even one that matches nothing,
        # waits for the database's one writer.
        async with reading(self._engine) as conn:
            if await conn.scalar(oldest) is None:
                return None
        async with transaction(self._engine) as conn:
            # The guard is repeated in the UPDATE: on SQLite the subquery locks nothing.
            taken = await conn.execute(
                update(webhook_deliveries)
                .where(d.id == oldest.scalar_subquery(), due)
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(*webhook_deliveries.c)
            )
            row = taken.mappings().first()
            if row is None:
                return None
            found = await conn.execute(
                select(webhook_endpoints).where(webhook_endpoints.c.id == row["endpoint_id"])
            )
            endpoint = found.mappings().one()
        return _delivery(row, ()), _endpoint(endpoint)

    async def settle(
        self, delivery: WebhookDelivery, owner: str, attempt: Attempt, outcome: Outcome
    ) -> bool:
        d = webhook_deliveries.c
        async with transaction(self._engine) as conn:
            done = await conn.execute(
                update(webhook_deliveries)
                .where(d.id == delivery.id, d.lease_owner == owner)
                .values(
                    status=outcome.status.value,
                    attempts=d.attempts + 1,
                    next_at=outcome.next_at or attempt.at,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if done.rowcount != 1:
                return False
            await conn.execute(
                insert(webhook_attempts).values(
                    delivery_id=delivery.id,
                    at=attempt.at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    excerpt=attempt.excerpt,
                )
            )
            if outcome.disable_endpoint:
                await conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == delivery.endpoint_id)
                    .values(enabled=False)
                )
        return True


def _endpoint(row: RowMapping) -> Endpoint:
    return Endpoint(
        id=row["id"],
        owner_id=row["owner_id"],
        url=row["url"],
        events=tuple(EventType(e) for e in row["events"]),
        secret=row["secret"],
        created_at=row["created_at"],
        enabled=bool(row["enabled"]),
        old_secret=row["old_secret"],
        old_secret_until=row["old_secret_until"],
    )


def _delivery(row: RowMapping, history: tuple[Attempt, ...]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_at=row["next_at"],
        created_at=row["created_at"],
        history=history,
    )
