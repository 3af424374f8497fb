"""The condition language and the ISO 8601 durations, on their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.facts import Facts, People, WeatherPlan
from services.core.fiches import Condition, compile_condition, format_duration, parse_duration


def compiled(raw: Any) -> Condition:
    issues: list[tuple[str, str]] = []
    condition = compile_condition(raw, "applies_when", issues)
    assert issues == []
    assert condition is not None
    return condition


def issues_of(raw: Any) -> list[tuple[str, str]]:
    issues: list[tuple[str, str]] = []
    assert compile_condition(raw, "applies_when", issues) is None
    assert issues
    return issues


def facts(flags: tuple[str, ...] = (), **people: Any) -> Facts:
    return Facts(People(**people), frozenset(flags))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", timedelta(hours=1)),
        ("PT30M", timedelta(minutes=30)),
        ("PT15M", timedelta(minutes=15)),
        ("P1D", timedelta(days=1)),
        ("P14D", timedelta(days=14)),
        ("P2W", timedelta(weeks=2)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT90M", timedelta(minutes=90)),
        ("PT45S", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "1H", "PT1X", "pt1h", "P1.5D", "-PT1H", "P1M", "P1Y", "PT0S", " PT1H"]
)
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="durée ISO 8601 invalide"):
        parse_duration(text)


@given(st.integers(1, 60 * 86400))
def test_format_duration_round_trips(seconds: int) -> None:
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


def test_flag_count_and_groups_explain_themselves() -> None:
    condition = compiled(
        {"any": [{"flag": "pregnant"}, {"all": [{"count": "adults", "min": 1}, {"count": "children", "max": 0}]}]}
    )
    assert condition(facts(adults=2), None) == ("adults=2", "children=0")
    assert condition(facts(("pregnant",), adults=1), None) == ("flag:pregnant", "adults=1", "children=0")
    assert condition(facts(("pregnant",), adults=1, children=1), None) == ("flag:pregnant",)
    assert condition(facts(adults=1, children=1), None) is None


def test_count_bounds_are_inclusive_and_people_is_the_total() -> None:
    condition = compiled({"count": "people", "min": 2, "max": 3})
    assert condition(facts(adults=1), None) is None
    assert condition(facts(adults=1, unaccompanied_minors=1), None) == ("people=2",)
    assert condition(facts(adults=1, children=2), None) == ("people=3",)
    assert condition(facts(adults=2, children=2), None) is None


def test_all_and_any_lists_of_genders_and_age_bands() -> None:
    all_female = compiled({"genders_all": "female"})
    assert all_female(facts(adults=2, adult_genders=("female", "female")), None) == ("adult_genders=all female",)
    assert all_female(facts(adults=2, adult_genders=("female",)), None) is None
    assert all_female(facts(adults=0, adult_genders=()), None) is None
    some_elderly = compiled({"age_bands_any": "60+"})
    assert some_elderly(facts(adults=3, adult_age_bands=("60+",)), None) == ("adult_age_bands has 60+",)
    assert some_elderly(facts(adults=1), None) is None
    some_women = compiled({"genders_any": "female"})
    assert some_women(facts(adults=2, adult_genders=("male", "female")), None) == ("adult_genders has female",)


def test_weather_thresholds_per_plan() -> None:
    condition = compiled({"weather": {"grand_froid": 2}})
    assert condition(facts(adults=1), None) is None
    assert condition(facts(adults=1), WeatherPlan("grand_froid", 1)) is None
    assert condition(facts(adults=1), WeatherPlan("grand_froid", 3)) == ("weather:grand_froid=3",)
    assert condition(facts(adults=1), WeatherPlan("canicule", 4)) is None  # no threshold for this plan


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("flag: pregnant", "applies_when"),
        ({}, "applies_when"),
        ({"flag": "pregnant", "count": "adults"}, "applies_when"),
        ({"flag": "pregnant", "min": 1}, "applies_when.min"),
        ({"min": 1}, "applies_when"),
        ({"any": []}, "applies_when.any"),
        ({"all": {"flag": "camp"}}, "applies_when.all"),
        ({"all": [{"flag": "camp"}, {"flag": "tent"}]}, "applies_when.all.1.flag"),
        ({"count": "adults"}, "applies_when"),
        ({"count": "adults", "min": -1}, "applies_when.min"),
        ({"count": "adults", "min": True}, "applies_when.min"),
        ({"count": "adults", "min": 3, "max": 1}, "applies_when"),
        ({"age_bands_all": "18-24"}, "applies_when.age_bands_all"),
        ({"weather": {"tempete": 1}}, "applies_when.weather.tempete"),
        ({"weather": {"grand_froid": 4}}, "applies_when.weather.grand_froid"),
        ({"weather": {}}, "applies_when.weather"),
        ({"not": {"flag": "camp"}}, "applies_when.not"),
    ],
)
def test_invalid_conditions_name_the_field(raw: Any, field: str) -> None:
    assert [field for field, _ in issues_of(raw)] == [field]
