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


def personal_fields(signal: Signal) -> dict[str, Any]:
    """What only the leads concerned, the MUS and the reporter may read (and every read is audited)."""
    location: dict[str, Any] = {}
    if signal.lat is not None:
        location.update(lat=signal.lat, lon=signal.lon)
    if signal.postcode is not None:
        location["postcode"] = signal.postcode
    if signal.address is not None:
        location["address"] = signal.address
    if signal.given_arrondissement is not None:
        location["arrondissement"] = signal.given_arrondissement
    return {"location": location, "place": signal.place, "description": signal.description}


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
