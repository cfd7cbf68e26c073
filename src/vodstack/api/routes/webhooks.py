"""Webhook routes: a user's own endpoints and their deliveries. Thin; the WebhookService
checks who may do what."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from vodstack.api.deps import CurrentUser
from vodstack.api.schemas import error_responses
from vodstack.domain.webhooks import Endpoint, WebhookDelivery
from vodstack.services.webhooks import WebhookService

router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], responses=error_responses(401, 422, 503)
)


def _webhooks(request: Request) -> WebhookService:
    service: WebhookService = request.app.state.webhooks
    return service


Webhooks = Annotated[WebhookService, Depends(_webhooks)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048, pattern=r"^[^\x00]*$")
    events: list[str] | None = Field(default=None, max_length=16)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str  # shown here only


class WebhookList(BaseModel):
    webhooks: list[WebhookPublic]


class SecretPublic(BaseModel):
    secret: str
    previous_valid_until: datetime | None


class AttemptPublic(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    excerpt: str


class DeliveryPublic(BaseModel):
    id: str
    event_type: str
    status: str
    attempts: list[AttemptPublic]
    next_attempt_at: datetime | None
    created_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]


class RedeliveryAccepted(BaseModel):
    delivery_id: str
    status: str


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(400))
async def create_webhook(
    body: WebhookCreate, webhooks: Webhooks, user: CurrentUser
) -> WebhookCreated:
    """The secret signs every delivery; it is shown this once."""
    endpoint = await webhooks.register(user, body.url, body.events)
    return WebhookCreated(secret=endpoint.secret, **_public(endpoint).model_dump())


@router.get("")
async def list_webhooks(webhooks: Webhooks, user: CurrentUser) -> WebhookList:
    return WebhookList(webhooks=[_public(e) for e in await webhooks.endpoints(user)])


@router.delete(
    "/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
async def delete_webhook(webhook_id: str, webhooks: Webhooks, user: CurrentUser) -> Response:
    await webhooks.remove(webhook_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", responses=error_responses(404))
async def rotate_secret(webhook_id: str, webhooks: Webhooks, user: CurrentUser) -> SecretPublic:
    """A new secret; for 24 hours deliveries carry a signature with the old one too."""
    endpoint = await webhooks.rotate(webhook_id, user)
    return SecretPublic(secret=endpoint.secret, previous_valid_until=endpoint.old_secret_until)


@router.get("/{webhook_id}/deliveries", responses=error_responses(404))
async def list_deliveries(
    webhook_id: str,
    webhooks: Webhooks,
    user: CurrentUser,
    limit: int = Query(default=100, ge=1, le=1000),
) -> DeliveryList:
    found = await webhooks.deliveries(webhook_id, user, limit)
    return DeliveryList(deliveries=[_delivery(d) for d in found])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(404),
)
async def redeliver(
    webhook_id: str, delivery_id: str, webhooks: Webhooks, user: CurrentUser
) -> RedeliveryAccepted:
    """Sent again soon, with the same webhook-id and body."""
    await webhooks.redeliver(webhook_id, delivery_id, user)
    return RedeliveryAccepted(delivery_id=delivery_id, status="pending")


def _public(endpoint: Endpoint) -> WebhookPublic:
    return WebhookPublic(
        id=endpoint.id,
        url=endpoint.url,
        events=[e.value for e in endpoint.events],
        enabled=endpoint.enabled,
        created_at=endpoint.created_at,
    )


def _delivery(delivery: WebhookDelivery) -> DeliveryPublic:
    pending = delivery.status.value == "pending"
    return DeliveryPublic(
        id=delivery.id,
        event_type=delivery.event_type,
        status=delivery.status.value,
        attempts=[
            AttemptPublic(at=a.at, status_code=a.status_code, error=a.error, excerpt=a.excerpt)
            for a in delivery.history
        ],
        next_attempt_at=delivery.next_at if pending else None,
        created_at=delivery.created_at,
    )
