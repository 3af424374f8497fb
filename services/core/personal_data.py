"""What of a signal is personal data (invariant 7): shown only to the reporter, the leads concerned and the MUS,
each read audited. Both the signal's view and the situation's read it here."""

from __future__ import annotations

from typing import Any

from services.core.models import Signal


def personal_fields(signal: Signal) -> dict[str, Any]:
    """The signal's precise place and free text, as the views show them."""
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
