from __future__ import annotations

import dataclasses

import pytest

from vodstack import errors
from vodstack.domain.signing import PartGrant, sign, verify

KEY = b"k" * 32
GRANT = PartGrant(upload_id="abc123", part_number=3, max_size=5_242_880, expires=1_000)


def test_a_signature_verifies_until_it_expires() -> None:
    signature = sign(GRANT, KEY)
    verify(GRANT, signature, KEY, now=999)
    verify(GRANT, signature, KEY, now=1_000)
    with pytest.raises(errors.SignatureExpired):
        verify(GRANT, signature, KEY, now=1_001)


@pytest.mark.parametrize(
    "change",
    [
        {"upload_id": "abc124"},
        {"part_number": 4},
        {"max_size": 5_242_881},
        {"expires": 2_000},
    ],
)
def test_changing_any_field_breaks_the_signature(change: dict[str, object]) -> None:
    signature = sign(GRANT, KEY)
    tampered = dataclasses.replace(GRANT, **change)  # type: ignore[arg-type]
    with pytest.raises(errors.SignatureInvalid):
        verify(tampered, signature, KEY, now=0)


def test_another_key_or_a_mangled_signature_is_rejected() -> None:
    signature = sign(GRANT, KEY)
    with pytest.raises(errors.SignatureInvalid):
        verify(GRANT, signature, b"other key", now=0)
    with pytest.raises(errors.SignatureInvalid):
        verify(GRANT, signature[:-1] + ("A" if signature[-1] != "A" else "B"), KEY, now=0)
    with pytest.raises(errors.SignatureInvalid):
        verify(GRANT, "", KEY, now=0)


def test_signatures_are_url_safe_and_deterministic() -> None:
    signature = sign(GRANT, KEY)
    assert signature == sign(GRANT, KEY)
    assert all(c.isalnum() or c in "-_" for c in signature)


def test_secrets_in_logged_urls_are_redacted() -> None:
    import logging

    from vodstack.logs import REDACTED, RedactSecrets

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/v1/videos/x/hls/e1/master.m3u8?token=eyJ2Ijoi.c2ln&x=1",
            "1.1",
            200,
        ),
        None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "eyJ2Ijoi" not in line
    assert f"token={REDACTED}&x=1" in line
    for secret in (
        "/v1/storage/parts/u/1?max_size=5&expires=9&signature=abc123",
        "https://s3/b/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef",
        "Authorization: Bearer vsk_0123456789abcdef_secret",
    ):
        record = logging.LogRecord("vodstack", logging.INFO, __file__, 1, secret, None, None)
        RedactSecrets().filter(record)
        assert not any(s in record.getMessage() for s in ("abc123", "deadbeef", "AKIA", "_secret"))


def test_a_signature_that_is_not_ascii_is_invalid_not_a_crash() -> None:
    from vodstack.domain.signing import PlaybackGrant, playback_token, verify_playback_token

    token = playback_token(PlaybackGrant("v" * 32, 2_000_000_000), b"key")
    claims = token.split(".")[0]
    with pytest.raises(errors.SignatureInvalid):
        verify_playback_token(f"{claims}.sïgnature", b"key", 0, "v" * 32, None)
