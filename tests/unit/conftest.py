"""Unit tests run on in-memory twins: no database file, no server, no network. Opening a
socket or a SQLite database here fails the test, so a unit test cannot quietly become an
integration test."""

from __future__ import annotations

import socket
import sqlite3
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def no_io_beyond_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"a unit test tried to {what}: use an in-memory twin")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("open a network connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("open a network connection"))
    monkeypatch.setattr(sqlite3, "connect", refuse("open a SQLite database"))
