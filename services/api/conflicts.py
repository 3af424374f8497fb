"""Database conflicts a client should retry, answered as 409 rather than 500 (shared by every router)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from services.core.errors import Conflict

DEADLOCK_DETECTED = "40P01"


@contextmanager
def deadlock_is_a_conflict() -> Iterator[None]:
    """Two transactions locking the same situations in opposite orders (a merge and a routing join): PostgreSQL
    aborts one; its client is told to try again rather than shown a 500."""
    try:
        yield
    except OperationalError as err:
        if getattr(err.orig, "sqlstate", None) == DEADLOCK_DETECTED:
            raise Conflict("la situation était modifiée en même temps par une autre opération : réessayez") from err
        raise
