"""Webhooks as the Standard Webhooks specification has them: pure rules, no I/O.

Signing, the retry schedule, which video changes are events, and which addresses a
webhook may reach.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from vodstack.domain.videos import Video, VideoStatus, public_fields

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# How long a rotated-out secret still signs deliveries, so receivers can switch over.
ROTATION_GRACE = timedelta(hours=24)
# What is kept of a receiver's answer: enough to tell why it failed, not a copy of it.
EXCERPT_CHARS = 500


class EventType(StrEnum):
    UPLOADED = "video.uploaded"
    PLAYABLE = "video.playable"
    READY = "video.ready"
    FAILED = "video.failed"
    DELETED = "video.deleted"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt of the schedule failed, or the endpoint went away


ALL_EVENTS: tuple[EventType, ...] = tuple(EventType)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    owner_id: str
    url: str
    events: tuple[EventType, ...]
    secret: str
    created_at: datetime
    enabled: bool = True
    old_secret: str | None = None
    old_secret_until: datetime | None = None

    def secrets_at(self, now: datetime) -> tuple[str, ...]:
        """The secrets a delivery made at ``now`` is signed with: the new one first."""
        if self.old_secret and self.old_secret_until and now < self.old_secret_until:
            return (self.secret, self.old_secret)
        return (self.secret,)

    def wants(self, event: EventType) -> bool:
        return self.enabled and event in self.events


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one endpoint. Its id is the ``webhook-id``, the same on every try."""

    id: str
    endpoint_id: str
    event_type: str
    payload: str  # the exact body, signed as sent
    status: DeliveryStatus
    attempts: int
    next_at: datetime
    created_at: datetime
    history: tuple[Attempt, ...] = ()


# --- signing ---------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The key a ``whsec_`` secret stands for: the base64 after the prefix."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """One ``v1,`` signature over ``{id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: tuple[str, ...], msg_id: str, timestamp: int, body: str) -> str:
    """Space-separated, as the specification allows, so a receiver holding either the old
    or the new secret accepts a delivery during a rotation."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


def headers(secrets_: tuple[str, ...], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
        "content-type": "application/json",
    }


# --- the retry schedule ------------------------------------------------------------------

# The wait before each retry: about three days in all, as the specification suggests.
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1


def retry_delay(attempts: int, scale: float = 1.0) -> timedelta | None:
    """The wait after the ``attempts``-th failed try; None once the schedule is spent.
    ``scale`` shrinks the schedule where minutes cannot be waited for."""
    if attempts < 1 or attempts > len(SCHEDULE):
        return None
    return SCHEDULE[attempts - 1] * scale


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt's answer means: delivered, retry, or give up (and disable)."""

    status: DeliveryStatus
    next_at: datetime | None
    disable_endpoint: bool = False


def outcome(status_code: int | None, attempts: int, now: datetime, scale: float = 1.0) -> Outcome:
    if status_code is not None and 200 <= status_code < 300:
        return Outcome(DeliveryStatus.DELIVERED, None)
    if status_code == 410:  # the receiver says it is gone for good
        return Outcome(DeliveryStatus.FAILED, None, disable_endpoint=True)
    delay = retry_delay(attempts, scale)
    if delay is None:
        return Outcome(DeliveryStatus.FAILED, None)
    return Outcome(DeliveryStatus.PENDING, now + delay)


# --- which changes are events ------------------------------------------------------------


def event_for(was: VideoStatus | None, now: VideoStatus) -> EventType | None:
    """The event a video's status change is, if any: each is sent on the change only,
    so a playable video that stays playable as more parts come in is not sent again."""
    if was == now:
        return None
    if now is VideoStatus.QUEUED and was is VideoStatus.UPLOADING:
        return EventType.UPLOADED
    return {
        VideoStatus.PLAYABLE: EventType.PLAYABLE,
        VideoStatus.READY: EventType.READY,
        VideoStatus.FAILED: EventType.FAILED,
    }.get(now)


def video_data(video: Video) -> dict[str, Any]:
    """The video as ``GET /v1/videos/{id}`` shows it (without the encoding estimate)."""
    return {
        **public_fields(video),
        "status": video.status.value,
        "visibility": video.visibility.value,
        "created_at": video.created_at.isoformat(),
        "updated_at": video.updated_at.isoformat(),
    }


def event_body(event: EventType, video: Video, now: datetime) -> dict[str, Any]:
    return {"type": event.value, "timestamp": now.isoformat(), "data": {"video": video_data(video)}}


# --- where a webhook may point -----------------------------------------------------------


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's, before any name is resolved; None if it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "a webhook URL must be http or https"
    if not parts.hostname:
        return "a webhook URL needs a host"
    if parts.username or parts.password:
        return "a webhook URL cannot carry credentials"
    return None


def address_problem(address: str) -> str | None:
    """Why a webhook may not reach ``address``; None if it may. Loopback, link-local,
    private, multicast, reserved and unspecified addresses are the machine's own network,
    where a webhook could reach what the internet may not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, name in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
    ):
        if flag:
            return f"{address} is a {name} address"
    if not ip.is_global:  # shared (carrier NAT), documentation and the like
        return f"{address} is not a public address"
    return None
