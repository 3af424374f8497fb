"""The routing cases (`tests/data/routing-cases.json`, see `tests/support/cases.py`), one test each, on the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.core.facts import Facts, People, WeatherPlan
from services.core.fiches import load_fiches
from services.core.routing import route
from services.core.territory import Territory, default_map
from tests.support.cases import routing_cases

REPO = Path(__file__).resolve().parents[2]
CASES: list[dict[str, Any]] = routing_cases()
BOOK = load_fiches(REPO / "fiches_reflexes")
CHECKED_KEYS = {
    "status",
    "arrondissement",
    "sector",
    "primary_fiche",
    "fiches",
    "lead",
    "partners",
    "directives",
    "deadlines",
}


def facts_from_payload(body: dict[str, Any]) -> Facts:
    """The routing facts of a `POST /v1/signals` body."""
    people = body.get("people", {})
    genders = people.get("adult_genders")
    bands = people.get("adult_age_bands")
    return Facts(
        people=People(
            adults=people.get("adults", 0),
            children=people.get("children", 0),
            unaccompanied_minors=people.get("unaccompanied_minors", 0),
            adult_genders=None if genders is None else tuple(genders),
            adult_age_bands=None if bands is None else tuple(bands),
        ),
        flags=frozenset(body.get("flags", ())),
    )


def territory_from_payload(body: dict[str, Any]) -> Territory:
    location = body["location"]
    return default_map().locate(
        lat=location.get("lat"),
        lon=location.get("lon"),
        postcode=location.get("postcode"),
        arrondissement=location.get("arrondissement"),
    )


def weather_from_case(case: dict[str, Any]) -> WeatherPlan | None:
    plan = case.get("weather_plan")
    return None if plan is None else WeatherPlan(kind=plan["kind"], level=plan["level"])


def test_cases_are_there() -> None:
    assert len(CASES) >= 20
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_routing_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    assert set(expect) <= CHECKED_KEYS, f"clé attendue non vérifiée : {set(expect) - CHECKED_KEYS}"
    territory = territory_from_payload(case["signal"])
    decision = route(facts_from_payload(case["signal"]), BOOK, territory, weather_from_case(case))

    assert decision.status == expect["status"]
    if "arrondissement" in expect:
        assert territory.arrondissement == expect["arrondissement"]
    if "sector" in expect:
        assert territory.sector == expect["sector"]
    if "lead" in expect:
        assert decision.lead == expect["lead"]
    if "primary_fiche" in expect:
        assert decision.primary_fiche == expect["primary_fiche"]
    if "fiches" in expect:
        assert {fiche.code for fiche in decision.fiches} == set(expect["fiches"])
    if "partners" in expect:
        assert set(decision.partners) == set(expect["partners"])
    if "directives" in expect:
        assert set(decision.directives) == set(expect["directives"])
    if "deadlines" in expect:
        assert decision.deadlines is not None
        seconds = {kind: getattr(decision.deadlines, kind).total_seconds() for kind in expect["deadlines"]}
        assert seconds == expect["deadlines"]
    # Every applied fiche is explained and versioned with the book's current version.
    for applied in decision.fiches:
        assert applied.because
        assert applied.version == BOOK.version(applied.code)
