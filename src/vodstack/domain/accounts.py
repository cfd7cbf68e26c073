"""Accounts, API keys and who may do what with a video: pure, no I/O.

An API key reads ``vsk_<id>_<secret>``. The id finds the key's row; only an argon2 hash of
the secret is stored, so a leaked database holds no usable key.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from vodstack import errors

KEY_PREFIX = "vsk"
_KEY = re.compile(r"^vsk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Visibility(StrEnum):
    PUBLIC = "public"  # listed, and playable by anyone
    UNLISTED = "unlisted"  # playable by anyone with its id, not listed
    PRIVATE = "private"  # playable only with a signed playback token


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    is_admin: bool


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


def can_manage(actor: Actor, owner_id: str | None) -> bool:
    """Change, delete, retry or read the timeline of a video: its owner, or an admin."""
    if isinstance(actor, System):
        return True
    return isinstance(actor, User) and (actor.is_admin or actor.id == owner_id)


def can_see(actor: Actor, owner_id: str | None, visibility: Visibility) -> bool:
    """Read a video's record. A private video stays invisible to others (a 404, so that
    its existence does not leak); playing it takes a token instead."""
    return visibility is not Visibility.PRIVATE or can_manage(actor, owner_id)


def is_administrator(actor: Actor) -> bool:
    """An admin, or vodstack itself: lists every video, whoever owns it, and creates
    users."""
    return isinstance(actor, System) or (isinstance(actor, User) and actor.is_admin)
