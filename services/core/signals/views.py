"""A signal as `GET /v1/signals/{id}` shows it, and the list of those out of territory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from services.core.deadlines import DEADLINE_KINDS
from services.core.errors import FieldError, InvalidInput
from services.core.models import Signal
from services.core.paging import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from services.core.personal_data import personal_fields
from services.core.timefmt import rfc3339


def routing_view(signal: Signal) -> dict[str, Any] | None:
    """This signal's own decision (the situation it joined holds the combined one)."""
    decision = signal.decision
    if decision is None:
        return None
    deadlines = decision["deadlines"]
    return {
        "primary_fiche": decision["primary_fiche"],
        "fiches": decision["fiches"],
        "lead": decision["lead"],
        "partners": decision["partners"],
        "directives": decision["directives"],
        "deadlines": None
        if deadlines is None
        else {kind: rfc3339(signal.received_at + timedelta(seconds=deadlines[kind])) for kind in DEADLINE_KINDS},
        "notes": decision.get("notes", []),
    }


def signal_view(signal: Signal, *, personal: bool) -> dict[str, Any]:
    view = {
        "id": signal.id,
        "status": signal.status,
        "received_at": rfc3339(signal.received_at),
        "observed_at": rfc3339(signal.observed_at),
        "source": signal.source,
        "people": signal.people,
        "flags": signal.flags,
        "arrondissement": signal.arrondissement,
        "sector": signal.sector,
        "situation_id": signal.situation_id,
        "routing": routing_view(signal),
        "routing_error": signal.routing_error,
    }
    if personal:
        view.update(personal_fields(signal))
    return view


def list_out_of_territory(session: Session, *, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> dict[str, Any]:
    """Signals located outside Paris, newest first (then id: a stable order for keyset pagination), without
    personal data: reading one (`GET /v1/signals/{id}`) is the audited personal read."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput([FieldError("limit", "range", f"entre 1 et {MAX_PAGE}")])
    received = col(Signal.received_at)
    statement = select(Signal).where(col(Signal.status) == "out_of_territory")
    if cursor is not None:
        before, before_id = decode_cursor(cursor)
        # `received <= before` first: the index on reception time bounds the scan.
        statement = statement.where(
            received <= before, or_(received < before, and_(received == before, col(Signal.id) < before_id))
        )
    rows = session.exec(statement.order_by(received.desc(), col(Signal.id).desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "items": [signal_view(signal, personal=False) for signal in page],
        "next_cursor": encode_cursor(page[-1].received_at, page[-1].id) if len(rows) > limit else None,
    }
