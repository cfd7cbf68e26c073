"""Accounts: create users with a key shown once, and tell who sends a request."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import (
    ANONYMOUS,
    Actor,
    Anonymous,
    System,
    User,
    check_user_name,
    is_administrator,
    new_key,
    parse_key,
)
from vodstack.ports import AccountStore
from vodstack.settings import ADMIN_KEY_FILE, write_secret

log = logging.getLogger(__name__)

# argon2 is slow on purpose; a key that was verified is trusted for this long, so a client
# making many requests pays for one verification, not one per request.
_TRUSTED_SECONDS = 300.0
_TRUSTED_KEYS = 10_000


class AccountService:
    def __init__(self, store: AccountStore, clock: Clock = utc_now) -> None:
        self._store = store
        self._clock = clock
        self._hasher = PasswordHasher()
        self._trusted: OrderedDict[bytes, tuple[float, User]] = OrderedDict()

    async def create_user(self, name: str, admin: bool, actor: Actor) -> tuple[User, str]:
        """The new user and their key, which is never stored and cannot be shown again.
        Only an admin, or vodstack itself (an operator's command), creates users."""
        if not is_administrator(actor):
            raise errors.Forbidden("only an admin may create users")
        user = User(uuid.uuid4().hex, check_user_name(name), admin)
        key = new_key()
        secret_hash = await asyncio.to_thread(self._hasher.hash, key.secret)
        await self._store.create_user(user, key.key_id, secret_hash, self._clock())
        return user, key.full

    async def caller(self, authorization: str | None) -> User | Anonymous:
        """The user an ``Authorization: Bearer`` header names; anonymous without one."""
        if not authorization:
            return ANONYMOUS
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise errors.Unauthorized('send the key as "Authorization: Bearer <key>"')
        return await self.authenticate(key.strip())

    async def authenticate(self, key: str) -> User:
        fingerprint = hashlib.sha256(key.encode()).digest()
        trusted = self._trusted.get(fingerprint)
        now = time.monotonic()
        if trusted is not None and now - trusted[0] < _TRUSTED_SECONDS:
            return trusted[1]
        parts = parse_key(key)
        found = await self._store.key(parts.key_id)
        if found is None:
            raise errors.Unauthorized("unknown API key")
        user, secret_hash = found
        try:
            await asyncio.to_thread(self._hasher.verify, secret_hash, parts.secret)
        except VerificationError:
            raise errors.Unauthorized("unknown API key") from None
        self._trusted[fingerprint] = (now, user)
        while len(self._trusted) > _TRUSTED_KEYS:
            self._trusted.popitem(last=False)
        return user

    async def ensure_first_admin(self, data_dir: Path) -> None:
        """On an embedded install's first start, create an admin and keep its key in the
        data dir, where the CLI and the demo find it: nothing to do by hand."""
        if await self._store.count() > 0:
            return
        try:
            _, key = await self.create_user("admin", True, System("the first start"))
        except errors.Conflict:  # another process started at the same moment
            return
        write_secret(data_dir / ADMIN_KEY_FILE, key)
        log.info("created the admin user; its key is in %s", data_dir / ADMIN_KEY_FILE)
