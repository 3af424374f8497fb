"""The procedures a process routes with: the book published last in the database, checked on every decision.

Each call reads the fingerprint of the latest publication (one indexed row, in the caller's transaction) and
returns the book built for it: a publication is in force in every API replica and worker for the next decision
they make, with no restart, no cache to invalidate and never half a change (a publication is the whole book).
Books are kept by fingerprint, i.e. by content, so a kept book can never be stale. Until anything is published
(a fresh database, before `seed_publications` runs at start) the book is the files' of `URGENCE_FICHES_DIR`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import cache

from sqlalchemy import Connection, select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from services.core.fiches import FicheBook, load_documents, load_fiches
from services.core.models import FichePublication
from services.core.settings import get_settings

log = logging.getLogger(__name__)

_LATEST = (
    select(col(FichePublication.id), col(FichePublication.fingerprint))
    .order_by(col(FichePublication.id).desc())
    .limit(1)
)
# A few books: the one in force, the previous one while decisions still in flight finish, a rollback's.
_KEEP = 8


@cache
def seed_book() -> FicheBook:
    """The files' book (`fiches_reflexes/`): the seed of the published versions, validated whole."""
    return load_fiches(get_settings().fiches_dir)


class PublishedBooks:
    """Books already built in this process, by fingerprint."""

    def __init__(self) -> None:
        self._books: dict[str, FicheBook] = {}
        self._lock = threading.Lock()
        self.last: FicheBook | None = None  # the book of this process's last decision: the likely next one

    def in_force(self, db: Session | Connection) -> FicheBook:
        latest = db.execute(_LATEST).first()
        if latest is None:
            return seed_book()
        book = self._books.get(latest.fingerprint)
        if book is None:
            documents = db.execute(
                select(col(FichePublication.documents)).where(col(FichePublication.id) == latest.id)
            ).scalar_one()
            book = load_documents(documents)  # validated when published: this only compiles it
            with self._lock:
                while len(self._books) >= _KEEP:
                    self._books.pop(next(iter(self._books)))
                self._books[latest.fingerprint] = book
        self.last = book
        return book


_published = PublishedBooks()


def fiches_in_force(db: Session | Connection) -> FicheBook:
    """The book in force as the caller's transaction sees it: pass it to every decision made in it."""
    return _published.in_force(db)


# The fingerprint of the book in force, as a column a caller's own statement can carry (no round trip of its own).
LATEST_FINGERPRINT = _LATEST.with_only_columns(col(FichePublication.fingerprint)).scalar_subquery()


def book_in_force(db: Session | Connection, expected: FicheBook, fingerprint: str | None) -> FicheBook:
    """The book in force, given the fingerprint a statement of the caller's read (`LATEST_FINGERPRINT`):
    `expected` when it is that one, else read."""
    return expected if fingerprint is not None and fingerprint == expected.fingerprint else fiches_in_force(db)


def expected_fiches() -> FicheBook:
    """The book this process decided with last (the files' before any): the one a caller that checks the version
    in force in its own statement (`signals.intake.accept_signal`) expects, at no cost."""
    return _published.last or seed_book()


def prepare_procedures(now: datetime) -> None:
    """At a process's start: the files checked (broken fiches stop the start), then published if they are new
    (first start, upgrade: `seed_publications`) and the book in force built. A database not reachable yet
    does not stop the start: every decision reads the book in force anyway."""
    from services.core.db import session_scope
    from services.core.fiches.versions import seed_publications

    seed_book()
    try:
        with session_scope() as session:
            seed_publications(session, get_settings().fiches_dir, now=now)
            session.commit()
            fiches_in_force(session)
    except OperationalError as err:
        log.warning("fiches : base injoignable au démarrage, la graine sera publiée au prochain démarrage (%s)", err)
