"""Webhook signing (the specification's own vector), the retry schedule, which video
changes are events, and which addresses a webhook may reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vodstack.domain.videos import VideoStatus
from vodstack.domain.webhooks import (
    MAX_ATTEMPTS,
    SCHEDULE,
    DeliveryStatus,
    Endpoint,
    EventType,
    address_problem,
    event_for,
    headers,
    new_secret,
    outcome,
    retry_delay,
    secret_key,
    sign,
    url_problem,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_a_second_vector() -> None:
    secret = "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # 24 zero bytes
    assert sign(secret, "msg_1", 1700000000, "{}") == (
        "v1,LzeNxZHo3O8fwpFJpLh/0B99ugILNFJw+/9lTgx0APs="
    )


def test_during_a_rotation_both_secrets_sign() -> None:
    old, new = new_secret(), new_secret()
    endpoint = Endpoint(
        id="e",
        owner_id="u",
        url="https://x.test/",
        events=(EventType.READY,),
        secret=new,
        created_at=NOW,
        old_secret=old,
        old_secret_until=NOW + timedelta(hours=24),
    )
    signed = headers(endpoint.secrets_at(NOW), "msg_1", 1, "{}")["webhook-signature"]
    assert signed.split(" ") == [sign(new, "msg_1", 1, "{}"), sign(old, "msg_1", 1, "{}")]
    later = endpoint.secrets_at(NOW + timedelta(days=2))
    assert later == (new,)


def test_a_new_secret_holds_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(secret_key(secret)) == 24
    assert new_secret() != secret


def test_the_schedule_spans_about_three_days_and_grows() -> None:
    total = sum(SCHEDULE, timedelta())
    assert timedelta(days=2, hours=12) < total < timedelta(days=4)
    assert list(SCHEDULE) == sorted(SCHEDULE)
    assert retry_delay(1) == timedelta(seconds=5)
    assert retry_delay(MAX_ATTEMPTS) is None
    assert retry_delay(2, scale=0.01) == timedelta(seconds=3)


@pytest.mark.parametrize(
    ("code", "attempts", "status", "disable"),
    [
        (200, 1, DeliveryStatus.DELIVERED, False),
        (204, 5, DeliveryStatus.DELIVERED, False),
        (500, 1, DeliveryStatus.PENDING, False),
        (None, 1, DeliveryStatus.PENDING, False),
        (302, 1, DeliveryStatus.PENDING, False),  # a redirect is not followed, nor success
        (410, 1, DeliveryStatus.FAILED, True),
        (500, MAX_ATTEMPTS, DeliveryStatus.FAILED, False),
    ],
)
def test_what_an_answer_means(
    code: int | None, attempts: int, status: DeliveryStatus, disable: bool
) -> None:
    found = outcome(code, attempts, NOW)
    assert (found.status, found.disable_endpoint) == (status, disable)
    if status is DeliveryStatus.PENDING:
        assert found.next_at == NOW + SCHEDULE[attempts - 1]


@pytest.mark.parametrize(
    ("was", "now", "event"),
    [
        (VideoStatus.UPLOADING, VideoStatus.QUEUED, EventType.UPLOADED),
        (VideoStatus.PROCESSING, VideoStatus.QUEUED, None),  # a retry is no new upload
        (VideoStatus.PROCESSING, VideoStatus.PLAYABLE, EventType.PLAYABLE),
        (VideoStatus.PLAYABLE, VideoStatus.PLAYABLE, None),
        (VideoStatus.PLAYABLE, VideoStatus.READY, EventType.READY),
        (VideoStatus.PROCESSING, VideoStatus.READY, EventType.READY),
        (VideoStatus.PROCESSING, VideoStatus.FAILED, EventType.FAILED),
        (VideoStatus.QUEUED, VideoStatus.PROCESSING, None),
    ],
)
def test_which_changes_are_events(
    was: VideoStatus, now: VideoStatus, event: EventType | None
) -> None:
    assert event_for(was, now) == event


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not one bound
        "::",
        "::ffff:127.0.0.1",
        "100.64.0.1",
    ],
)
def test_private_addresses_are_refused(address: str) -> None:
    assert address_problem(address) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize(
    "url", ["ftp://x.test/", "file:///etc/passwd", "https://", "https://u:p@x.test/", "x.test"]
)
def test_only_plain_http_and_https_urls(url: str) -> None:
    assert url_problem(url) is not None


def test_an_https_url_is_fine() -> None:
    assert url_problem("https://hooks.example.com/vodstack?x=1") is None
