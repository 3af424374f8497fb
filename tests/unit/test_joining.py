"""The join rule ("one situation, several signals") and `tighten`, as pure functions, at their boundaries."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.core.facts import Facts, People
from services.core.fiches import load_fiches
from services.core.routing import Decision, resolve_lead, route
from services.core.situations.joining import (
    EARTH_RADIUS_METRES,
    JOIN_DISTANCE_METRES,
    JOIN_WINDOW,
    Sighting,
    distance_metres,
    same_household,
    tighten,
)
from services.core.territory import default_map

BOOK = load_fiches(Path(__file__).resolve().parents[2] / "fiches_reflexes")
PARIS_13 = default_map().locate(arrondissement=13)
T0 = datetime(2026, 1, 14, 22, 40, tzinfo=UTC)
LAT, LON = 48.831, 2.3555
ADULT = Facts(People(adults=1))
FAMILY = Facts(People(adults=2, children=2))


def north(metres: float) -> float:
    return LAT + math.degrees(metres / EARTH_RADIUS_METRES)


def sighting(
    *,
    sector: str = "paris-13",
    at: datetime = T0,
    lat: float | None = LAT,
    lon: float | None = LON,
    fiche: str = "FR00",
    facts: Facts = ADULT,
) -> Sighting:
    return Sighting(sector=sector, observed_at=at, lat=lat, lon=lon, primary_fiche=fiche, facts=facts)


def decide(facts: Facts) -> Decision:
    return route(facts, BOOK, PARIS_13, None)


def lead_for(code: str) -> str:
    return resolve_lead(BOOK.fiche(code).lead, PARIS_13)


def test_distance_is_haversine_metres() -> None:
    assert distance_metres(LAT, LON, north(149), LON) == pytest.approx(149, abs=1e-6)
    # One degree of longitude at Paris is about 73 km.
    assert distance_metres(LAT, LON, LAT, LON + 1) == pytest.approx(73_300, rel=0.01)


@pytest.mark.parametrize(("metres", "joins"), [(0, True), (149, True), (150, True), (151, False), (5000, False)])
def test_distance_boundary(metres: float, joins: bool) -> None:
    assert JOIN_DISTANCE_METRES == 150
    assert same_household(sighting(lat=north(metres)), sighting()) is joins


@pytest.mark.parametrize(
    ("hours", "joins"), [(-73, False), (-72, True), (-71, True), (71, True), (72, True), (73, False)]
)
def test_time_window_boundary_before_and_after(hours: float, joins: bool) -> None:
    assert timedelta(hours=72) == JOIN_WINDOW
    assert same_household(sighting(at=T0 + timedelta(hours=hours)), sighting()) is joins


def test_other_sector_never_joins() -> None:
    assert not same_household(sighting(sector="paris-14"), sighting())


@pytest.mark.parametrize(
    ("new", "known", "joins"),
    [
        (FAMILY, FAMILY, True),
        (ADULT, FAMILY, False),  # children ≥ 1 differs
        (FAMILY, ADULT, False),
        (Facts(People(adults=3, children=1)), FAMILY, True),  # counts may differ, the kind of household not
        (Facts(People(adults=1, unaccompanied_minors=1)), ADULT, False),
        (Facts(People(unaccompanied_minors=2)), Facts(People(unaccompanied_minors=1)), True),
    ],
)
def test_same_kind_of_household_is_needed(new: Facts, known: Facts, joins: bool) -> None:
    assert same_household(sighting(facts=new), sighting(facts=known)) is joins


@pytest.mark.parametrize(
    ("new", "known", "joins"),
    [
        (sighting(lat=None, lon=None), sighting(), True),
        (sighting(), sighting(lat=None, lon=None), True),
        (sighting(lat=None, lon=None), sighting(lat=None, lon=None), True),
        (sighting(lat=None, lon=None, fiche="FR13"), sighting(), False),
        (sighting(fiche="FR13"), sighting(lat=None, lon=None), False),
        # With both coordinates the fiche does not matter, the distance does.
        (sighting(fiche="FR13"), sighting(), True),
    ],
)
def test_without_coordinates_the_primary_fiche_decides(new: Sighting, known: Sighting, joins: bool) -> None:
    assert same_household(new, known) is joins


def test_tighten_unions_fiches_takes_shortest_deadlines_and_the_lead_follows_the_primary() -> None:
    adult = decide(ADULT)
    pregnant = decide(Facts(People(adults=1), frozenset({"pregnant", "animals"})))
    combined = tighten(adult, pregnant, precedence=BOOK.precedence, lead_for=lead_for)
    assert [f.code for f in combined.fiches] == ["FR02"]  # FR00 only stands alone
    assert (combined.primary_fiche, combined.lead) == ("FR02", "eps:paris-13")
    assert set(combined.partners) == {"siao-115", "pmi", "accueil-animaux"}
    assert combined.deadlines == pregnant.deadlines


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Facts(People(adults=1), frozenset({"vital_emergency"})), Facts(People(adults=2, children=1))),
        (Facts(People(adults=2, children=1)), Facts(People(adults=1), frozenset({"vital_emergency"}))),
        (Facts(People(adults=1), frozenset({"camp"})), ADULT),
        (ADULT, Facts(People(adults=1), frozenset({"drug_use"}))),
    ],
)
def test_tighten_never_loosens_and_does_not_depend_on_order(first: Facts, second: Facts) -> None:
    a, b = decide(first), decide(second)
    ab = tighten(a, b, precedence=BOOK.precedence, lead_for=lead_for)
    ba = tighten(b, a, precedence=BOOK.precedence, lead_for=lead_for)
    assert ab.deadlines is not None and a.deadlines is not None and b.deadlines is not None
    for kind in ("ack", "contact", "resolve"):
        assert getattr(ab.deadlines, kind) == min(getattr(a.deadlines, kind), getattr(b.deadlines, kind))
    assert replace(ab, checklist=()) == replace(ba, checklist=())  # only the steps' order may differ
    assert ab.primary_fiche == BOOK.precedence[min(BOOK.precedence.index(f.code) for f in ab.fiches)]
