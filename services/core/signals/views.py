"""A signal as `GET /v1/signals/{id}` shows it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.core.models import Signal
from services.core.routing import DEADLINE_KINDS
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


def signal_view(signal: Signal) -> dict[str, Any]:
    return {
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
