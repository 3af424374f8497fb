"""Retention: personal data is erased a set time after a situation is resolved (default 24 months).

Erased: free text (descriptions, places, addresses, notes, reopening reasons) and precise coordinates, in
signals, situations, events and dead letters. Kept: everything statistics are made of (arrondissement, sector,
people counts, flags, fiches, timestamps, outcomes), so figures are the same before and after erasure.
Idempotent: a second run finds nothing left to erase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlmodel import Session

from services.core.models import Event

# Event data keys that hold free text, and the event types whose `reason` is free text (a reopening is
# explained in words; an escalation's reason is a code, its words are in `note`).
FREE_TEXT_KEYS = ("note",)
FREE_TEXT_REASON_EVENTS = ("reopened",)


def without_free_text(event: Event) -> dict[str, Any]:
    """An event's data as shown to those who may not read personal data (admins)."""
    hidden = set(FREE_TEXT_KEYS) | ({"reason"} if event.type in FREE_TEXT_REASON_EVENTS else set())
    return {key: value for key, value in event.data.items() if key not in hidden}


def months_before(instant: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the last day of a shorter month)."""
    total = instant.year * 12 + instant.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    for day in range(instant.day, 27, -1):
        try:
            return instant.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return instant.replace(year=year, month=month, day=min(instant.day, 28))


@dataclass(frozen=True)
class Erased:
    signals: int
    situations: int
    events: int
    dead_letters: int


def _count(session: Session, sql: str, params: dict[str, Any] | None = None) -> int:
    result = cast(CursorResult[Any], session.execute(text(sql), params or {}))
    return result.rowcount


def erase_expired(session: Session, *, now: datetime, months: int) -> Erased:
    cutoff = months_before(now, months)
    # Situations whose retention has run out: resolved before the cutoff, and those merged into one of them.
    session.execute(
        text(
            """
            CREATE TEMPORARY TABLE expired_situations ON COMMIT DROP AS
            SELECT id FROM situations WHERE status = 'resolved' AND resolved_at < :cutoff
            UNION
            SELECT merged.id FROM situations merged JOIN situations target ON target.id = merged.merged_into
            WHERE merged.status = 'merged' AND target.status = 'resolved' AND target.resolved_at < :cutoff
            """
        ),
        {"cutoff": cutoff},
    )
    signals = _count(
        session,
        """
        UPDATE signals SET lat = NULL, lon = NULL, address = NULL, place = NULL, description = NULL
        WHERE (situation_id IN (SELECT id FROM expired_situations)
               OR (status = 'out_of_territory' AND received_at < :cutoff))
          AND (lat IS NOT NULL OR address IS NOT NULL OR place IS NOT NULL OR description IS NOT NULL)
        """,
        {"cutoff": cutoff},
    )
    situations = _count(
        session,
        """
        UPDATE situations SET last_lat = NULL, last_lon = NULL
        WHERE id IN (SELECT id FROM expired_situations) AND last_lat IS NOT NULL
        """,
    )
    events = _count(
        session,
        """
        UPDATE events
        SET data = (data - CAST(:keys AS text[]))
                   - CASE WHEN type = ANY(CAST(:reason_events AS text[])) THEN 'reason' ELSE '' END
        WHERE situation_id IN (SELECT id FROM expired_situations)
          AND (data ?| CAST(:keys AS text[]) OR (type = ANY(CAST(:reason_events AS text[])) AND data ? 'reason'))
        """,
        {"keys": list(FREE_TEXT_KEYS), "reason_events": list(FREE_TEXT_REASON_EVENTS)},
    )
    dead_letters = _count(
        session,
        """
        UPDATE dead_letters SET payload = '{}'::jsonb, error = 'effacé (durée de conservation écoulée)'
        WHERE created_at < :cutoff AND payload <> '{}'::jsonb
        """,
        {"cutoff": cutoff},
    )
    return Erased(signals=signals, situations=situations, events=events, dead_letters=dead_letters)
