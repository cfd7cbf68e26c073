"""Accounts: create users and keys with a secret shown once, tell who sends a request, and
list and revoke keys."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from vodstack import errors
from vodstack.clock import Clock, utc_now
from vodstack.domain.accounts import (
    ANONYMOUS,
    Actor,
    Anonymous,
    ApiKey,
    Scope,
    System,
    User,
    check_key_name,
    check_user_name,
    is_administrator,
    key_expiry,
    key_scopes,
    new_key,
    parse_key,
    require_scope,
)
from vodstack.domain.direct_uploads import is_direct_token
from vodstack.ports import AccountStore
from vodstack.settings import ADMIN_KEY_FILE, write_secret

log = logging.getLogger(__name__)

# argon2 is slow on purpose; a key that was verified is trusted for this long, so a client
# making many requests pays for one verification, not one per request.
_TRUSTED_SECONDS = 300.0
_TRUSTED_KEYS = 10_000
# A trusted key's row is read again (one lookup by id) once this old, so that a key revoked
# by any process is refused by every other within a second.
_RECHECK_SECONDS = 0.5
# last_used_at is kept to this precision: a busy key costs one write a minute, not one a
# request.
_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Trusted:
    verified_at: float  # monotonic
    checked_at: float  # monotonic
    user: User
    key: ApiKey
    secret_hash: str


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._hasher = PasswordHasher()
        self._trusted: OrderedDict[bytes, _Trusted] = OrderedDict()

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

    async def users(self, actor: Actor) -> list[User]:
        if not is_administrator(actor):
            raise errors.Forbidden("only an admin may list users")
        return await self._store.users()

    async def create_key(
        self,
        actor: Actor,
        name: str,
        scopes: Sequence[str] | None = None,
        expires_in: int | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key of ``actor``'s, and its secret, shown only this once."""
        user = _key_holder(actor)
        now = self._clock()
        parts = new_key()
        key = ApiKey(
            id=parts.key_id,
            user_id=user.id,
            name=check_key_name(name),
            scopes=key_scopes(user, scopes),
            created_at=now,
            expires_at=key_expiry(now, expires_in),
        )
        secret_hash = await asyncio.to_thread(self._hasher.hash, parts.secret)
        await self._store.add_key(key, secret_hash)
        return key, parts.full

    async def keys(self, actor: Actor) -> list[ApiKey]:
        return await self._store.keys(_key_holder(actor).id)

    async def revoke_key(self, key_id: str, actor: Actor) -> None:
        """Revoke one of ``actor``'s keys (an admin's: anyone's). Someone else's key is
        reported as missing, so that ids cannot be probed."""
        user = _key_holder(actor)
        owner = None if is_administrator(user) else user.id
        if not await self._store.revoke_key(key_id, owner, self._clock()):
            raise errors.KeyNotFound(f"no key with id {key_id!r}")
        for fingerprint, trusted in list(self._trusted.items()):
            if trusted.key.id == key_id:
                del self._trusted[fingerprint]

    async def caller(self, authorization: str | None) -> User | Anonymous:
        """The user an ``Authorization: Bearer`` header names, with its key's scopes;
        anonymous without one."""
        if not authorization:
            return ANONYMOUS
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise errors.Unauthorized('send the key as "Authorization: Bearer <key>"')
        if is_direct_token(key.strip()):
            raise errors.Forbidden("a direct-upload token may only upload its one video")
        return await self.authenticate(key.strip())

    async def authenticate(self, key: str) -> User:
        fingerprint = hashlib.sha256(key.encode()).digest()
        trusted = await self._trust(fingerprint, key, self._monotonic())
        now = self._clock()
        if not trusted.key.usable(now):
            self._trusted.pop(fingerprint, None)
            state = "revoked" if trusted.key.revoked_at is not None else "expired"
            raise errors.Unauthorized(f"this API key has {state}")
        last_used = trusted.key.last_used_at
        if last_used is None or now - last_used >= _USE_PRECISION:
            await self._store.touch_key(trusted.key.id, now)
            used = dataclasses.replace(trusted.key, last_used_at=now)
            self._trusted[fingerprint] = dataclasses.replace(trusted, key=used)
        return dataclasses.replace(trusted.user, scopes=trusted.key.scopes)

    async def _trust(self, fingerprint: bytes, key: str, now: float) -> _Trusted:
        """The key's record: from the cache while fresh, checked against its row when
        older than a moment, verified with argon2 again after a while."""
        trusted = self._trusted.get(fingerprint)
        if trusted is None or now - trusted.verified_at >= _TRUSTED_SECONDS:
            trusted = await self._verify(key, now)
        elif now - trusted.checked_at >= _RECHECK_SECONDS:
            found = await self._store.key(trusted.key.id)
            if found is None or found[2] != trusted.secret_hash:
                self._trusted.pop(fingerprint, None)
                raise errors.Unauthorized("unknown API key")
            trusted = dataclasses.replace(trusted, checked_at=now, user=found[0], key=found[1])
        else:
            return trusted
        self._trusted[fingerprint] = trusted
        self._trusted.move_to_end(fingerprint)
        while len(self._trusted) > _TRUSTED_KEYS:
            self._trusted.popitem(last=False)
        return trusted

    async def _verify(self, key: str, now: float) -> _Trusted:
        parts = parse_key(key)
        found = await self._store.key(parts.key_id)
        if found is None:
            raise errors.Unauthorized("unknown API key")
        user, record, secret_hash = found
        try:
            await asyncio.to_thread(self._hasher.verify, secret_hash, parts.secret)
        except VerificationError:
            raise errors.Unauthorized("unknown API key") from None
        return _Trusted(now, now, user, record, secret_hash)

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


def _key_holder(actor: Actor) -> User:
    """The user whose keys a request manages: keys belong to users, and managing them takes
    the manage scope."""
    if isinstance(actor, Anonymous):
        raise errors.Unauthorized()
    if not isinstance(actor, User):
        raise errors.Forbidden("keys belong to users; vodstack itself has none")
    require_scope(actor, Scope.MANAGE)
    return actor
