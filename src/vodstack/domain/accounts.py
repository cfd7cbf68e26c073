"""Accounts, API keys and who may do what with a video: pure, no I/O.

An API key reads ``vsk_<id>_<secret>``. The id finds the key's row; only an argon2 hash of
the secret is stored, so a leaked database holds no usable key.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from vodstack import errors

KEY_PREFIX = "vsk"
_KEY = re.compile(r"^vsk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Visibility(StrEnum):
    PUBLIC = "public"  # listed, and playable by anyone
    UNLISTED = "unlisted"  # playable by anyone with its id, not listed
    PRIVATE = "private"  # playable only with a signed playback token


class Scope(StrEnum):
    """What a key may do. A key holds at most its user's rights."""

    READ = "read"  # read videos, their timelines and their playback
    UPLOAD = "upload"  # create, inspect, complete and abort uploads
    MANAGE = "manage"  # change, delete and retry videos; playback tokens; the user's keys
    ADMIN = "admin"  # what only an admin does: users, everyone's videos and keys


_USER_SCOPES = frozenset({Scope.READ, Scope.UPLOAD, Scope.MANAGE})
_ADMIN_SCOPES = _USER_SCOPES | {Scope.ADMIN}
MAX_KEY_SECONDS = 10 * 365 * 86400


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    is_admin: bool
    # What the key this user came with allows; None for a user acting with all their
    # rights (an operator's command), which no request is.
    scopes: frozenset[Scope] | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's record, without its secret."""

    id: str
    user_id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Anonymous:
    """Whoever sent no key: a viewer of public videos."""


@dataclass(frozen=True, slots=True)
class System:
    """vodstack itself, acting for nobody in particular (the sweep of abandoned uploads, an
    operator's command): may touch everything. Never built from a request."""

    purpose: str


ANONYMOUS = Anonymous()
# Who asks, on every call that reads or changes a user's data. There is no default: each
# caller says who it is, and only an explicit System is unrestricted.
Actor = User | Anonymous | System


@dataclass(frozen=True, slots=True)
class KeyParts:
    key_id: str
    secret: str

    @property
    def full(self) -> str:
        return f"{KEY_PREFIX}_{self.key_id}_{self.secret}"


def new_key() -> KeyParts:
    return KeyParts(secrets.token_hex(8), secrets.token_urlsafe(32))


def parse_key(key: str) -> KeyParts:
    match = _KEY.match(key.strip())
    if match is None:
        raise errors.Unauthorized("that is not a vodstack API key")
    return KeyParts(match.group(1), match.group(2))


def check_user_name(name: str) -> str:
    if not _NAME.match(name):
        raise errors.InvalidRequest(
            "a user name is 1 to 64 letters, digits or _.@-, starting with a letter or digit"
        )
    return name


def full_scopes(is_admin: bool) -> frozenset[Scope]:
    """A user's full rights: what a key gets unless it asks for less."""
    return _ADMIN_SCOPES if is_admin else _USER_SCOPES


def key_scopes(user: User, asked: Iterable[str] | None) -> frozenset[Scope]:
    """The scopes of a new key of ``user``: those asked for, none beyond the user's own
    rights (nor beyond those of the key asking), or all of them by default."""
    held = full_scopes(user.is_admin) & (user.scopes if user.scopes is not None else _ADMIN_SCOPES)
    if asked is None:
        return held
    try:
        wanted = frozenset(Scope(s) for s in asked)
    except ValueError:
        raise errors.InvalidRequest(
            f"a scope is one of {', '.join(s.value for s in Scope)}"
        ) from None
    if not wanted:
        raise errors.InvalidRequest("a key needs at least one scope")
    beyond = wanted - held
    if beyond:
        names = ", ".join(sorted(s.value for s in beyond))
        raise errors.Forbidden(f"a key cannot be given scopes its holder lacks: {names}")
    return wanted


def key_expiry(now: datetime, expires_in: int | None) -> datetime | None:
    if expires_in is None:
        return None
    if not 1 <= expires_in <= MAX_KEY_SECONDS:
        raise errors.InvalidRequest(f"expires_in must be between 1 and {MAX_KEY_SECONDS} seconds")
    return now + timedelta(seconds=expires_in)


def check_key_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise errors.InvalidRequest("a key's name is 1 to 64 printable characters")
    return name


def has_scope(actor: Actor, scope: Scope) -> bool:
    """Whether ``actor`` may do what ``scope`` covers: an admin's right needs an admin,
    and a key only does what it was given."""
    if isinstance(actor, System):
        return True
    if not isinstance(actor, User) or (scope is Scope.ADMIN and not actor.is_admin):
        return False
    return actor.scopes is None or scope in actor.scopes


def require_scope(actor: Actor, scope: Scope) -> None:
    """Refuse a key that lacks ``scope``. Anonymous callers pass: what they may see is
    decided by each video's visibility, and what needs a key says so itself."""
    if isinstance(actor, User) and not has_scope(actor, scope):
        raise errors.Forbidden(f"this API key lacks the {scope.value!r} scope")


def can_manage(actor: Actor, owner_id: str | None) -> bool:
    """Change, delete, retry or read the timeline of a video: its owner, or an admin."""
    if isinstance(actor, System):
        return True
    return isinstance(actor, User) and (is_administrator(actor) or actor.id == owner_id)


def can_see(actor: Actor, owner_id: str | None, visibility: Visibility) -> bool:
    """Read a video's record. A private video stays invisible to others (a 404, so that
    its existence does not leak); playing it takes a token instead."""
    return visibility is not Visibility.PRIVATE or can_manage(actor, owner_id)


def is_administrator(actor: Actor) -> bool:
    """An admin, or vodstack itself: lists every video, whoever owns it, and creates
    users."""
    return has_scope(actor, Scope.ADMIN)
