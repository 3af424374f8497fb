"""Appending to a situation's timeline, and keeping its projection consistent with it (invariant 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.core.models import Event, Situation
from services.core.situations.live import announce
from services.core.situations.status import OPEN_STATUSES
from services.core.timefmt import rfc3339

SYSTEM_ACTOR = "system"


def deadlines_data(situation: Situation) -> dict[str, str | None]:
    """The deadlines as events record them whenever they are set or change: statistics read "met or not" from
    the timeline even after a later change (requalification, reopening)."""
    return {
        "ack": rfc3339(situation.ack_due),
        "contact": rfc3339(situation.contact_due),
        "resolve": rfc3339(situation.resolve_due),
    }


def next_deadline(situation: Situation) -> datetime | None:
    """The soonest deadline not yet met: what queues sort by."""
    if situation.status not in OPEN_STATUSES:
        return None
    pending = [situation.resolve_due]
    if situation.acknowledged_at is None:
        pending.append(situation.ack_due)
    if situation.first_contact_at is None:
        pending.append(situation.contact_due)
    return min(pending)


def record(
    session: Session,
    situation: Situation,
    *,
    type: str,
    actor: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one event and refresh the projection's derived columns, in the caller's transaction."""
    situation.updated_at = now
    situation.next_deadline = next_deadline(situation)
    session.add(situation)
    event = Event(situation_id=situation.id, type=type, actor=actor, at=now, data=data or {})
    session.add(event)
    announce(session, situation.id)  # open queue pages see the change once it commits
    return event
