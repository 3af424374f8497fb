"""Appending to a situation's timeline, and keeping its projection consistent with it (invariant 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.core.models import Event, Situation

SYSTEM_ACTOR = "system"


def next_deadline(situation: Situation) -> datetime | None:
    """The soonest deadline not yet met: what queues sort by."""
    if situation.status not in ("new", "acknowledged", "in_progress"):
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
    return event
