"""Accounts on the in-memory twin: who may create users, how a key names its user, and
how keys are made, listed, revoked and expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vodstack import errors
from vodstack.adapters.stores_memory import MemoryDatabase, memory_stores
from vodstack.domain.accounts import ANONYMOUS, Scope, System, User, full_scopes
from vodstack.services.accounts import AccountService

SYSTEM = System("a test")


class Clocks:
    """The wall clock and the monotonic one, moved together by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.elapsed = 0.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.elapsed += seconds


def _service(database: MemoryDatabase, clocks: Clocks) -> AccountService:
    return AccountService(memory_stores(database=database).accounts, clocks.wall, clocks.monotonic)


async def test_only_an_admin_or_vodstack_itself_creates_users() -> None:
    accounts = AccountService(memory_stores().accounts)
    admin, admin_key = await accounts.create_user("root", True, System("the first start"))
    user, key = await accounts.create_user("alice", False, admin)
    assert await accounts.caller(f"Bearer {key}") == User(
        user.id, "alice", False, full_scopes(False)
    )
    assert await accounts.caller(f"Bearer {admin_key}") == User(
        admin.id, "root", True, frozenset(Scope)
    )
    assert await accounts.caller(None) is ANONYMOUS
    limited = User(admin.id, "root", True, frozenset({Scope.MANAGE}))
    for refused in (user, ANONYMOUS, User("0" * 32, "ghost", False), limited):
        with pytest.raises(errors.Forbidden):
            await accounts.create_user("mallory", True, refused)
    with pytest.raises(errors.Unauthorized):
        await accounts.caller(f"Bearer {key[:-1]}x")


async def test_a_key_holds_what_it_was_given() -> None:
    accounts = AccountService(memory_stores().accounts)
    alice, _ = await accounts.create_user("alice", False, SYSTEM)
    record, key = await accounts.create_key(alice, "ci", ["read"], 3600)
    assert record.scopes == {Scope.READ}
    assert record.expires_at is not None
    caller = await accounts.caller(f"Bearer {key}")
    assert isinstance(caller, User)
    assert caller.scopes == frozenset({Scope.READ})
    # A key without the manage scope manages no keys, nor makes one with more rights.
    for refused in (accounts.keys(caller), accounts.create_key(caller, "more", ["read"])):
        with pytest.raises(errors.Forbidden, match="manage"):
            await refused
    with pytest.raises(errors.Forbidden, match="admin"):
        await accounts.create_key(alice, "root", ["admin"])
    assert [k.name for k in await accounts.keys(alice)] == ["default", "ci"]


async def test_revoking_takes_the_owner_or_an_admin() -> None:
    accounts = AccountService(memory_stores().accounts)
    root, _ = await accounts.create_user("root", True, SYSTEM)
    alice, _ = await accounts.create_user("alice", False, SYSTEM)
    bob, _ = await accounts.create_user("bob", False, SYSTEM)
    first, _ = await accounts.create_key(alice, "one")
    second, key = await accounts.create_key(alice, "two")
    with pytest.raises(errors.KeyNotFound):
        await accounts.revoke_key(first.id, bob)
    await accounts.revoke_key(first.id, alice)
    await accounts.revoke_key(second.id, root)
    with pytest.raises(errors.KeyNotFound):
        await accounts.revoke_key(second.id, alice)  # revoked once only
    with pytest.raises(errors.Unauthorized, match="revoked"):
        await accounts.caller(f"Bearer {key}")


async def test_another_process_refuses_a_revoked_key_within_a_second() -> None:
    database, clocks = MemoryDatabase(), Clocks()
    here, there = _service(database, clocks), _service(database, clocks)
    alice, _ = await here.create_user("alice", False, SYSTEM)
    record, key = await here.create_key(alice, "shared")
    await there.authenticate(key)
    await here.revoke_key(record.id, alice)
    clocks.advance(1.0)
    with pytest.raises(errors.Unauthorized, match="revoked"):
        await there.authenticate(key)


async def test_an_expired_key_is_refused() -> None:
    database, clocks = MemoryDatabase(), Clocks()
    accounts = _service(database, clocks)
    alice, _ = await accounts.create_user("alice", False, SYSTEM)
    _, key = await accounts.create_key(alice, "brief", expires_in=60)
    await accounts.authenticate(key)
    clocks.advance(60)
    with pytest.raises(errors.Unauthorized, match="expired"):
        await accounts.authenticate(key)


async def test_a_keys_use_is_written_once_a_minute() -> None:
    database, clocks = MemoryDatabase(), Clocks()
    accounts = _service(database, clocks)
    alice, _ = await accounts.create_user("alice", False, SYSTEM)
    record, key = await accounts.create_key(alice, "busy")
    start = clocks.now
    await accounts.authenticate(key)
    clocks.advance(30)
    await accounts.authenticate(key)
    assert database.keys[record.id][0].last_used_at == start
    clocks.advance(30)
    await accounts.authenticate(key)
    assert database.keys[record.id][0].last_used_at == clocks.now


async def test_only_an_admin_lists_users() -> None:
    accounts = AccountService(memory_stores().accounts)
    root, _ = await accounts.create_user("root", True, SYSTEM)
    alice, _ = await accounts.create_user("alice", False, SYSTEM)
    assert [u.name for u in await accounts.users(root)] == ["alice", "root"]
    with pytest.raises(errors.Forbidden):
        await accounts.users(alice)
