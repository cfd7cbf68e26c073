"""The scope rules: what a key of each user may be given, and what each scope opens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vodstack import errors
from vodstack.domain.accounts import (
    ANONYMOUS,
    Scope,
    System,
    User,
    can_manage,
    full_scopes,
    has_scope,
    is_administrator,
    key_expiry,
    key_scopes,
    require_scope,
)

ALICE = User("a" * 32, "alice", False)
ROOT = User("r" * 32, "root", True)


def test_a_keys_default_is_its_users_full_rights() -> None:
    assert key_scopes(ALICE, None) == {Scope.READ, Scope.UPLOAD, Scope.MANAGE}
    assert key_scopes(ROOT, None) == frozenset(Scope) == full_scopes(True)
    # A key made with a key holds at most that key's scopes.
    reader = User(ROOT.id, "root", True, frozenset({Scope.READ, Scope.MANAGE}))
    assert key_scopes(reader, None) == {Scope.READ, Scope.MANAGE}


def test_a_key_gets_no_scope_its_holder_lacks() -> None:
    assert key_scopes(ALICE, ["read"]) == {Scope.READ}
    with pytest.raises(errors.Forbidden, match="admin"):
        key_scopes(ALICE, ["read", "admin"])
    uploader = User(ALICE.id, "alice", False, frozenset({Scope.UPLOAD, Scope.MANAGE}))
    with pytest.raises(errors.Forbidden, match="read"):
        key_scopes(uploader, ["read"])
    with pytest.raises(errors.InvalidRequest):
        key_scopes(ALICE, ["everything"])
    with pytest.raises(errors.InvalidRequest):
        key_scopes(ALICE, [])


def test_each_scope_opens_only_itself() -> None:
    reader = User(ALICE.id, "alice", False, frozenset({Scope.READ}))
    assert has_scope(reader, Scope.READ)
    assert not has_scope(reader, Scope.UPLOAD)
    with pytest.raises(errors.Forbidden, match="upload"):
        require_scope(reader, Scope.UPLOAD)
    # Anonymous callers are judged by visibility, vodstack itself by nothing.
    require_scope(ANONYMOUS, Scope.MANAGE)
    assert has_scope(System("test"), Scope.ADMIN)
    assert not has_scope(ANONYMOUS, Scope.READ)


def test_an_admin_key_without_the_admin_scope_acts_as_a_user() -> None:
    plain = User(ROOT.id, "root", True, frozenset({Scope.READ, Scope.MANAGE}))
    assert not is_administrator(plain)
    assert not can_manage(plain, ALICE.id)
    assert can_manage(plain, ROOT.id)
    assert is_administrator(ROOT)
    assert can_manage(ROOT, ALICE.id)
    # The admin scope on a non-admin's record opens nothing.
    assert not is_administrator(User(ALICE.id, "alice", False, frozenset(Scope)))


def test_a_key_expires_after_its_seconds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert key_expiry(now, None) is None
    assert (key_expiry(now, 60) - now).total_seconds() == 60  # type: ignore[operator]
    with pytest.raises(errors.InvalidRequest):
        key_expiry(now, 0)
