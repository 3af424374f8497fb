"""The reference's rule for "one situation, several signals", as pure functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.core.deadlines import tightest
from services.core.facts import Facts
from services.core.routing import Decision

JOIN_WINDOW = timedelta(hours=72)
JOIN_DISTANCE_METRES = 150.0
EARTH_RADIUS_METRES = 6_371_008.8


def distance_metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance: exact enough at 150 m for the join rule."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(a))


def search_box(lat: float, lon: float, metres: float = JOIN_DISTANCE_METRES) -> tuple[float, float, float, float]:
    """A latitude/longitude box that holds every point within `metres` (a little more): lets the database
    discard far-away situations before the exact distance is computed."""
    margin = 1.01
    dlat = math.degrees(metres * margin / EARTH_RADIUS_METRES)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True)
class Sighting:
    """What the join rule compares: one side is a new signal, the other an open situation's latest signal."""

    sector: str
    observed_at: datetime
    lat: float | None
    lon: float | None
    primary_fiche: str
    facts: Facts

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


def same_household(new: Sighting, known: Sighting) -> bool:
    if new.sector != known.sector:
        return False
    if abs(new.observed_at - known.observed_at) > JOIN_WINDOW:
        return False
    if new.has_coordinates and known.has_coordinates:
        assert new.lat is not None and new.lon is not None and known.lat is not None and known.lon is not None
        if distance_metres(new.lat, new.lon, known.lat, known.lon) > JOIN_DISTANCE_METRES:
            return False
    elif new.primary_fiche != known.primary_fiche:
        return False
    a, b = new.facts.people, known.facts.people
    return (a.children >= 1) == (b.children >= 1) and (a.unaccompanied_minors >= 1) == (b.unaccompanied_minors >= 1)


def tighten(current: Decision, new: Decision, *, precedence: Sequence[str], lead_for: Callable[[str], str]) -> Decision:
    """A join only tightens: fiches become the union, partners and directives too, each deadline the shortest;
    the primary is re-chosen by precedence over the union, and the lead follows it."""
    by_code = {f.code: f for f in current.fiches}
    for fiche in new.fiches:
        by_code[fiche.code] = fiche  # the newer signal's version of a fiche is the one in force
    if len(by_code) > 1:
        by_code.pop("FR00", None)  # the general procedure only stands alone
    order = {code: rank for rank, code in enumerate(precedence)}
    fiches = tuple(sorted(by_code.values(), key=lambda f: order.get(f.code, len(order))))
    primary = fiches[0].code
    assert current.deadlines is not None and new.deadlines is not None
    return replace(
        current,
        primary_fiche=primary,
        fiches=fiches,
        lead=lead_for(primary),
        partners=tuple(sorted(set(current.partners) | set(new.partners))),
        directives=tuple(sorted(set(current.directives) | set(new.directives))),
        deadlines=tightest(current.deadlines, new.deadlines),
        checklist=tuple(dict.fromkeys((*current.checklist, *new.checklist))),
    )
