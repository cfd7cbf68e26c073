"""One contract, every account store: the in-memory twin, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.contract.conftest import FakeClock
from vodstack import errors
from vodstack.domain.accounts import User
from vodstack.ports import Stores


async def test_a_key_finds_its_user_and_hash(stores: Stores, clock: FakeClock) -> None:
    assert await stores.accounts.count() == 0
    alice = User("a" * 32, "alice", False)
    await stores.accounts.create_user(alice, "0123456789abcdef", "argon2-hash", clock.now)
    assert await stores.accounts.key("0123456789abcdef") == (alice, "argon2-hash")
    assert await stores.accounts.key("fedcba9876543210") is None
    assert await stores.accounts.count() == 1


async def test_a_name_is_taken_once(stores: Stores, clock: FakeClock) -> None:
    await stores.accounts.create_user(User("a" * 32, "alice", False), "1" * 16, "h", clock.now)
    with pytest.raises(errors.Conflict, match="alice"):
        await stores.accounts.create_user(User("b" * 32, "alice", True), "2" * 16, "h", clock.now)
    assert await stores.accounts.count() == 1
    assert await stores.accounts.key("2" * 16) is None
