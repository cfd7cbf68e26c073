"""Connections and transactions, with the driver's errors translated into vodstack's own at
this boundary: nothing above ``db/`` sees SQLAlchemy or psycopg."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vodstack import errors

log = logging.getLogger(__name__)


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    with translated():
        async with engine.begin() as conn:
            yield conn


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only."""
    with translated():
        async with engine.connect() as conn:
            yield conn


@contextmanager
def translated() -> Iterator[None]:
    """A lost or refused connection is the database being away (a restart, a failover):
    callers retry. A broken constraint is a conflict. Anything else is a bug, logged as
    one, and reported without the statement or its values."""
    try:
        yield
    except IntegrityError as exc:
        # The constraint's detail names stored values: logged, never shown.
        log.info("constraint refused a change: %s", _cause(exc))
        raise errors.Conflict("the change conflicts with what is stored") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            log.warning("database unavailable: %s", _cause(exc))
            raise errors.DatabaseUnavailable() from exc
        log.error("the database refused a statement: %s", exc)
        raise errors.DatabaseError() from exc


def _cause(exc: DBAPIError) -> str:
    cause = exc.orig or exc
    return " ".join(str(cause).split()) or type(cause).__name__
