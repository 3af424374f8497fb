"""Situations as the queues, `GET /v1/situations/{id}` and the situation page show them: their signals and events
read here, and what of them a reader without personal-data rights sees decided here (`shown_*`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from services.core.deadlines import DEADLINE_KINDS
from services.core.errors import FieldError, InvalidInput
from services.core.models import Event, Signal, Situation
from services.core.paging import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from services.core.personal_data import personal_fields
from services.core.retention import without_free_text
from services.core.situations.status import OPEN_STATUSES
from services.core.timefmt import rfc3339

# Sorting key for situations with no deadline left (closed ones in filtered lists): after every real one.
_FAR = datetime.fromisoformat("9999-12-31T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A situation as a queue lists it. Queues read these columns alone, without building the ORM model (that
    costs far more than the query for a page of a hundred rows)."""

    id: str
    status: str
    primary_fiche: str
    sector: str
    lead: str
    arrondissement: int
    next_deadline: datetime | None
    escalation_level: int
    signal_count: int
    opened_at: datetime

    @classmethod
    def of(cls, situation: Situation) -> QueueRow:
        return cls(*(getattr(situation, name) for name in _QUEUE_FIELDS))


_QUEUE_FIELDS = tuple(f.name for f in fields(QueueRow))
_QUEUE_COLUMNS = tuple(getattr(Situation, name) for name in _QUEUE_FIELDS)


def queue_item(row: QueueRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "primary_fiche": row.primary_fiche,
        "sector": row.sector,
        "lead": row.lead,
        "next_deadline": rfc3339(row.next_deadline),
        "overdue": row.next_deadline is not None and row.next_deadline < now,
        "escalation_level": row.escalation_level,
        "signal_count": row.signal_count,
        "opened_at": rfc3339(row.opened_at),
    }


def situation_signals(session: Session, situation: Situation) -> Sequence[Signal]:
    """The situation's signals, first received first."""
    return session.exec(
        select(Signal).where(col(Signal.situation_id) == situation.id).order_by(col(Signal.received_at))
    ).all()


def situation_events(session: Session, situation: Situation) -> Sequence[Event]:
    """The situation's timeline, oldest first."""
    return session.exec(select(Event).where(col(Event.situation_id) == situation.id).order_by(col(Event.id))).all()


def shown_personal_fields(signal: Signal, *, personal: bool) -> dict[str, Any]:
    """A signal's place, free text and coordinates (`personal_fields`) for a reader of personal data (the caller
    has checked and audited the right); nothing for another reader."""
    return personal_fields(signal) if personal else {}


def shown_event_data(event: Event, *, personal: bool) -> dict[str, Any]:
    """An event's data; without its free text (notes, reasons) for a reader without personal-data rights."""
    return event.data if personal else without_free_text(event)


def _signal_summary(signal: Signal, personal: bool) -> dict[str, Any]:
    return {
        "id": signal.id,
        "received_at": rfc3339(signal.received_at),
        "observed_at": rfc3339(signal.observed_at),
        "source": signal.source,
        "people": signal.people,
        "flags": signal.flags,
        **shown_personal_fields(signal, personal=personal),
    }


def situation_view(session: Session, situation: Situation, now: datetime, *, personal: bool) -> dict[str, Any]:
    """`personal`: with the signals' places, descriptions and coordinates and the events' notes (the caller
    has checked and audited the right to read them); without, free text is left out."""
    decision = situation.decision
    events = situation_events(session, situation)
    signals = situation_signals(session, situation)
    return {
        "id": situation.id,
        "status": situation.status,
        "arrondissement": situation.arrondissement,
        "sector": situation.sector,
        "lead": situation.lead,
        "primary_fiche": situation.primary_fiche,
        "fiches": decision.get("fiches", []),
        "partners": decision.get("partners", []),
        "directives": decision.get("directives", []),
        "checklist": decision.get("checklist", []),
        "deadlines": {kind: rfc3339(getattr(situation, f"{kind}_due")) for kind in DEADLINE_KINDS},
        "next_deadline": rfc3339(situation.next_deadline),
        "overdue": situation.next_deadline is not None and situation.next_deadline < now,
        "escalation_level": situation.escalation_level,
        "escalation_reasons": situation.escalation_reasons,
        "outcome": situation.outcome,
        "opened_at": rfc3339(situation.opened_at),
        "updated_at": rfc3339(situation.updated_at),
        "acknowledged_at": rfc3339(situation.acknowledged_at),
        "first_contact_at": rfc3339(situation.first_contact_at),
        "resolved_at": rfc3339(situation.resolved_at),
        "merged_into": situation.merged_into,
        "signal_count": situation.signal_count,
        "signal_ids": [signal.id for signal in signals],
        "signals": [_signal_summary(signal, personal) for signal in signals],
        "events": [
            {
                "type": e.type,
                "at": rfc3339(e.at),
                "actor": e.actor,
                "data": shown_event_data(e, personal=personal),
            }
            for e in events
        ],
    }


@dataclass(frozen=True)
class SituationFilter:
    lead: str | None = None
    include_escalated: bool = False  # the MUS queue: its own and every escalated one
    statuses: tuple[str, ...] = OPEN_STATUSES
    sector: str | None = None
    primary_fiche: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


def list_situations(
    session: Session,
    where: SituationFilter,
    *,
    now: datetime,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Soonest deadline first, then id: a stable order for keyset pagination."""
    page = queue_page(session, where, limit=limit, cursor=cursor)
    return {"items": [queue_item(row, now) for row in page.rows], "next_cursor": page.next_cursor}


def queue_page(
    session: Session, where: SituationFilter, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
) -> QueuePage:
    """The rows of `list_situations`, in its order."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput([FieldError("limit", "range", f"entre 1 et {MAX_PAGE}")])
    deadline = col(Situation.next_deadline)
    sort_key = deadline.asc().nulls_last(), col(Situation.id)
    statement = select(*_QUEUE_COLUMNS).where(col(Situation.status).in_(where.statuses))
    if where.lead is not None:
        owns = col(Situation.lead) == where.lead
        statement = statement.where(or_(owns, col(Situation.escalation_level) > 0) if where.include_escalated else owns)
    if where.sector is not None:
        statement = statement.where(col(Situation.sector) == where.sector)
    if where.primary_fiche is not None:
        statement = statement.where(col(Situation.primary_fiche) == where.primary_fiche)
    if where.opened_from is not None:
        statement = statement.where(col(Situation.opened_at) >= where.opened_from)
    if where.opened_to is not None:
        statement = statement.where(col(Situation.opened_at) < where.opened_to)
    if cursor is not None:
        after_deadline, after_id = decode_cursor(cursor)
        if after_deadline == _FAR:
            statement = statement.where(deadline.is_(None), col(Situation.id) > after_id)
        else:
            statement = statement.where(
                or_(
                    deadline.is_(None),
                    deadline > after_deadline,
                    and_(deadline == after_deadline, col(Situation.id) > after_id),
                )
            )
    found = session.execute(statement.order_by(*sort_key).limit(limit + 1)).all()
    rows = [QueueRow(*row) for row in found[:limit]]
    last = rows[-1] if len(found) > limit else None
    return QueuePage(rows, encode_cursor(last.next_deadline or _FAR, last.id) if last is not None else None)
