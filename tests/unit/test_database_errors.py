"""Driver errors leave ``db/`` as vodstack's own: nothing above it sees SQLAlchemy."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from vodstack import errors
from vodstack.db.session import translated


def _driver(kind: type[DBAPIError], message: str) -> DBAPIError:
    return kind("INSERT INTO videos ...", {"title": "secret"}, Exception(message))


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (_driver(OperationalError, "server closed the connection"), errors.DatabaseUnavailable),
        (_driver(IntegrityError, "UNIQUE constraint failed: users.name"), errors.Conflict),
        (_driver(ProgrammingError, 'column "x" does not exist'), errors.DatabaseError),
    ],
)
def test_driver_errors_become_vodstack_errors(
    raised: DBAPIError, expected: type[errors.VodstackError]
) -> None:
    with pytest.raises(expected) as caught, translated():
        raise raised
    assert "secret" not in caught.value.message  # never the statement's values


def test_a_connection_invalidated_mid_statement_is_the_database_being_away() -> None:
    lost = _driver(DBAPIError, "terminating connection due to administrator command")
    lost.connection_invalidated = True
    with pytest.raises(errors.DatabaseUnavailable), translated():
        raise lost


def test_other_errors_pass_through_untouched() -> None:
    with pytest.raises(errors.VideoNotFound), translated():
        raise errors.VideoNotFound()
