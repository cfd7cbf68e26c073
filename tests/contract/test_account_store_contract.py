"""One contract, every account store: the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.conftest import FakeClock
from vodstack import errors
from vodstack.domain.accounts import ApiKey, Scope, User, full_scopes
from vodstack.ports import Stores

ALICE = User("a" * 32, "alice", False)
ROOT = User("r" * 32, "root", True)


async def test_a_key_finds_its_user_and_hash(stores: Stores, clock: FakeClock) -> None:
    assert await stores.accounts.count() == 0
    await stores.accounts.create_user(ALICE, "0123456789abcdef", "argon2-hash", clock.now)
    first = ApiKey("0123456789abcdef", ALICE.id, "default", full_scopes(False), clock.now)
    assert await stores.accounts.key("0123456789abcdef") == (ALICE, first, "argon2-hash")
    assert await stores.accounts.key("fedcba9876543210") is None
    assert await stores.accounts.count() == 1


async def test_a_name_is_taken_once(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ALICE, "1" * 16, "h", clock.now)
    with pytest.raises(errors.Conflict, match="alice"):
        await stores.accounts.create_user(User("b" * 32, "alice", True), "2" * 16, "h", clock.now)
    assert await stores.accounts.count() == 1
    assert await stores.accounts.key("2" * 16) is None


async def test_an_admins_first_key_holds_every_scope(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ROOT, "1" * 16, "h", clock.now)
    found = await stores.accounts.key("1" * 16)
    assert found is not None
    assert found[1].scopes == frozenset(Scope)


async def test_added_keys_are_listed_oldest_first(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ALICE, "1" * 16, "h", clock.now)
    await stores.accounts.create_user(ROOT, "2" * 16, "h", clock.now)
    clock.advance(10)
    expires = clock.now + timedelta(days=1)
    reader = ApiKey("3" * 16, ALICE.id, "ci", frozenset({Scope.READ}), clock.now, expires)
    await stores.accounts.add_key(reader, "h3")
    listed = await stores.accounts.keys(ALICE.id)
    assert [k.id for k in listed] == ["1" * 16, "3" * 16]
    assert listed[1] == reader
    assert await stores.accounts.key("3" * 16) == (ALICE, reader, "h3")
    assert [k.id for k in await stores.accounts.keys(ROOT.id)] == ["2" * 16]
    with pytest.raises(errors.Conflict):
        await stores.accounts.add_key(reader, "again")


async def test_a_key_is_revoked_once_and_only_by_its_user(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ALICE, "1" * 16, "h", clock.now)
    await stores.accounts.create_user(ROOT, "2" * 16, "h", clock.now)
    assert not await stores.accounts.revoke_key("1" * 16, ROOT.id, clock.now)
    assert not await stores.accounts.revoke_key("9" * 16, ALICE.id, clock.now)
    assert await stores.accounts.revoke_key("1" * 16, ALICE.id, clock.now)
    assert not await stores.accounts.revoke_key("1" * 16, None, clock.now)
    assert await stores.accounts.keys(ALICE.id) == []
    found = await stores.accounts.key("1" * 16)
    assert found is not None
    assert found[1].revoked_at == clock.now
    # None: any user's key (an admin revoking it).
    assert await stores.accounts.revoke_key("2" * 16, None, clock.now)


async def test_a_keys_use_is_recorded(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ALICE, "1" * 16, "h", clock.now)
    clock.advance(60)
    await stores.accounts.touch_key("1" * 16, clock.now)
    found = await stores.accounts.key("1" * 16)
    assert found is not None
    assert found[1].last_used_at == clock.now


async def test_users_are_listed_by_name(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(ROOT, "1" * 16, "h", clock.now)
    await stores.accounts.create_user(ALICE, "2" * 16, "h", clock.now)
    assert await stores.accounts.users() == [ALICE, ROOT]
