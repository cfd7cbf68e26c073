"""Accounts on the in-memory twin: who may create users, and how a key names its user."""

from __future__ import annotations

import pytest

from vodstack import errors
from vodstack.adapters.stores_memory import memory_stores
from vodstack.domain.accounts import ANONYMOUS, System, User
from vodstack.services.accounts import AccountService


async def test_only_an_admin_or_vodstack_itself_creates_users() -> None:
    accounts = AccountService(memory_stores().accounts)
    admin, admin_key = await accounts.create_user("root", True, System("the first start"))
    user, key = await accounts.create_user("alice", False, admin)
    assert await accounts.caller(f"Bearer {key}") == user
    assert await accounts.caller(f"Bearer {admin_key}") == admin
    assert await accounts.caller(None) is ANONYMOUS
    for refused in (user, ANONYMOUS, User("0" * 32, "ghost", False)):
        with pytest.raises(errors.Forbidden):
            await accounts.create_user("mallory", True, refused)
    with pytest.raises(errors.Unauthorized):
        await accounts.caller(f"Bearer {key[:-1]}x")
