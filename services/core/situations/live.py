"""Live updates of the queues: every change of a situation is announced with PostgreSQL NOTIFY, in the very
transaction that makes it. PostgreSQL delivers it at commit (never for a rolled-back change), to every process
listening, whichever API replica: each one fans it out to its open pages. Several changes of one situation in
one transaction are delivered once (PostgreSQL folds identical notifications)."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

CHANNEL = "urgence_situations"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :situation_id)")


def announce(session: Session, situation_id: str) -> None:
    """The payload is the id alone: listeners read the situation as committed, with the rights of each page."""
    session.connection().execute(_NOTIFY, {"situation_id": situation_id})  # no autoflush: the caller may not be done
