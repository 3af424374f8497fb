"""Live updates of the queues: every change of a situation is announced with PostgreSQL NOTIFY, in the very
transaction that makes it. PostgreSQL delivers it at commit (never for a rolled-back change), to every process
listening, whichever API replica: each one fans it out to its open pages. Several changes of one situation in
one transaction are delivered once (PostgreSQL folds identical notifications)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, or_, text
from sqlmodel import Session, col, select

from services.core.db import transaction_memo
from services.core.models import Event, Situation

CHANNEL = "urgence_situations"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', id) FROM unnest(CAST(:situation_ids AS text[])) AS id")
_ANNOUNCED = "announced"


def announce(session: Session, situation_id: str) -> None:
    """The payload is the id alone: listeners read the situation as committed, with the rights of each page. Sent
    just before the commit, once per situation and in one statement for all of them (a batch of signals changes
    many), so still in the transaction: delivered at commit, never for a rolled-back change."""
    transaction_memo(session).setdefault(_ANNOUNCED, set()).add(situation_id)


@event.listens_for(Session, "before_commit")
def _send_announcements(session: Session) -> None:
    announced = transaction_memo(session).pop(_ANNOUNCED, None)
    if announced:
        session.connection().execute(_NOTIFY, {"situation_ids": sorted(announced)})


# --- Reading what changed (for the listeners) -----------------------------------------------------------------

# Event ids are taken when a transaction writes, but transactions commit in another order: after a given id,
# events with a smaller id may still commit. A replay from an id therefore also takes the events of the
# moments just before it (a transaction lasts far less than this); the pages apply a change twice harmlessly.
REPLAY_OVERLAP = timedelta(seconds=30)
MAX_REPLAY = 500


def high_water(session: Session) -> int:
    """The last event id committed so far (0 with none): where a page's live stream starts from."""
    return session.exec(select(func.max(Event.id))).one() or 0


def _with_last_event(session: Session, where: Any) -> list[tuple[Situation, int]]:
    last = func.max(Event.id).label("last_event")
    changed = (
        select(col(Event.situation_id), last)
        .where(col(Event.situation_id).is_not(None), where)
        .group_by(col(Event.situation_id))
        .subquery()
    )
    rows = session.exec(
        select(Situation, changed.c.last_event)
        .join(changed, changed.c.situation_id == col(Situation.id))
        .order_by(changed.c.last_event)
        .limit(MAX_REPLAY + 1)
    ).all()
    return [(situation, int(last_event)) for situation, last_event in rows]


def read_changed(session: Session, situation_ids: Iterable[str]) -> list[tuple[Situation, int]]:
    """The situations as committed, each with the id of its last event."""
    wanted = sorted(set(situation_ids))
    if not wanted:
        return []
    return _with_last_event(session, col(Event.situation_id).in_(wanted))


def changed_since(session: Session, event_id: int) -> list[tuple[Situation, int]] | None:
    """Every situation with an event after `event_id` (and in the overlap before it), or None when there are
    more than `MAX_REPLAY` of them (the page had better reload)."""
    since = session.exec(select(Event.at).where(col(Event.id) == event_id)).first()
    recent = col(Event.id) > event_id
    if since is not None:
        recent = or_(recent, col(Event.at) >= since - REPLAY_OVERLAP)
    rows = _with_last_event(session, recent)
    return None if len(rows) > MAX_REPLAY else rows
