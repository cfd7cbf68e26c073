"""The rules of direct-upload tokens: signed, expiring, never mistaken for another grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vodstack import errors
from vodstack.domain.accounts import Visibility
from vodstack.domain.direct_uploads import (
    DirectGrant,
    DirectUpload,
    DirectUploader,
    check_direct_size,
    direct_expiry,
    direct_max_size,
    direct_token,
    is_direct_token,
    verify_direct_token,
)
from vodstack.domain.signing import PlaybackGrant, playback_token, verify_playback_token

KEY = b"k" * 32
GRANT = DirectGrant(id="d" * 32, expires=1_000)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _direct(**changes: object) -> DirectUpload:
    values: dict[str, object] = {
        "id": "d" * 32,
        "owner_id": "o" * 32,
        "owner_name": "owner",
        "title": None,
        "description": "",
        "visibility": Visibility.PRIVATE,
        "max_size": 100,
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
    }
    return DirectUpload(**(values | changes))  # type: ignore[arg-type]


def test_a_token_names_its_direct_upload_until_it_expires() -> None:
    token = direct_token(GRANT, KEY)
    assert is_direct_token(token)
    assert verify_direct_token(token, KEY, now=1_000) == GRANT
    with pytest.raises(errors.Unauthorized, match="expired"):
        verify_direct_token(token, KEY, now=1_001)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(errors.Unauthorized, match="signature"):
        verify_direct_token(direct_token(GRANT, b"x" * 32), KEY, now=0)


def test_tampered_claims_are_refused() -> None:
    forged = direct_token(DirectGrant(GRANT.id, 9_999), b"x" * 32).split(".")[0]
    signature = direct_token(GRANT, KEY).split(".")[1]
    with pytest.raises(errors.Unauthorized):
        verify_direct_token(f"{forged}.{signature}", KEY, now=0)


@pytest.mark.parametrize("token", ["", "vsd_", "vsd_!!.x", "vsd_e30.x", "vsk_abc"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(errors.Unauthorized):
        verify_direct_token(token, KEY, now=0)


def test_a_playback_token_is_no_direct_token_nor_the_other_way_round() -> None:
    played = playback_token(PlaybackGrant(GRANT.id, 1_000), KEY)
    with pytest.raises(errors.Unauthorized):
        verify_direct_token(played, KEY, now=0)
    with pytest.raises(errors.Unauthorized):
        verify_direct_token("vsd_" + played, KEY, now=0)
    direct = direct_token(GRANT, KEY).removeprefix("vsd_")
    with pytest.raises(errors.SignatureInvalid):
        verify_playback_token(direct, KEY, 0, GRANT.id, None)


def test_a_used_or_expired_direct_upload_is_refused() -> None:
    _direct().check_usable(NOW)
    with pytest.raises(errors.Unauthorized, match="used"):
        _direct(used_at=NOW).check_usable(NOW)
    with pytest.raises(errors.Unauthorized, match="expired"):
        _direct().check_usable(NOW + timedelta(hours=1))


def test_expiry_and_size_limits() -> None:
    assert direct_expiry(NOW, None) == NOW + timedelta(hours=1)
    assert direct_expiry(NOW, 60) == NOW + timedelta(seconds=60)
    for bad in (0, 59, 7 * 86400 + 1):
        with pytest.raises(errors.InvalidRequest):
            direct_expiry(NOW, bad)
    assert direct_max_size(None, 1_000) == 1_000
    assert direct_max_size(10, 1_000) == 10
    for bad in (0, 1_001):
        with pytest.raises(errors.InvalidRequest):
            direct_max_size(bad, 1_000)
    check_direct_size(100, 100)
    with pytest.raises(errors.UploadTooLarge, match="at most 100 bytes"):
        check_direct_size(101, 100)


def test_the_holder_acts_as_its_owner_with_the_upload_scope_only_on_its_upload() -> None:
    holder = DirectUploader(_direct(upload_id="u" * 32))
    assert holder.owner.id == "o" * 32
    assert holder.owner.scopes == frozenset({"upload"})
    assert not holder.owner.is_admin
    holder.check_own("u" * 32)
    with pytest.raises(errors.UploadNotFound):
        holder.check_own("x" * 32)
