"""Properties of routing that hold for any facts, checked with hypothesis on the real fiches."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.deadlines import DEADLINE_KINDS
from services.core.facts import AGE_BANDS, FLAGS, GENDERS, Facts, People, WeatherPlan
from services.core.fiches import load_fiches
from services.core.routing import Decision, route
from services.core.territory import Territory, default_map

REPO = Path(__file__).resolve().parents[2]
BOOK = load_fiches(REPO / "fiches_reflexes")
MAP = default_map()
TERRITORIES = [MAP.locate(arrondissement=n) for n in (1, 5, 10, 13, 16, 20)] + [MAP.locate(postcode="93200")]


@st.composite
def people(draw: st.DrawFn) -> People:
    adults = draw(st.integers(0, 6))
    children = draw(st.integers(0, 4))
    minors = draw(st.integers(0, 3))
    genders = draw(st.none() | st.lists(st.sampled_from(GENDERS), max_size=adults).map(tuple))
    bands = draw(st.none() | st.lists(st.sampled_from(AGE_BANDS), max_size=adults).map(tuple))
    return People(adults, children, minors, genders, bands)


facts_st = st.builds(Facts, people(), st.frozensets(st.sampled_from(FLAGS)))
weather_st = (
    st.none()
    | st.builds(WeatherPlan, st.just("grand_froid"), st.integers(1, 3))
    | st.builds(WeatherPlan, st.just("canicule"), st.integers(1, 4))
)
territory_st = st.sampled_from(TERRITORIES)


def codes(decision: Decision) -> list[str]:
    return [fiche.code for fiche in decision.fiches]


@given(facts_st, territory_st, weather_st)
def test_deterministic(facts: Facts, territory: Territory, weather: WeatherPlan | None) -> None:
    assert route(facts, BOOK, territory, weather) == route(facts, BOOK, territory, weather)


@given(facts_st, territory_st, weather_st)
def test_primary_is_the_first_applicable_fiche_in_precedence(
    facts: Facts, territory: Territory, weather: WeatherPlan | None
) -> None:
    decision = route(facts, BOOK, territory, weather)
    applicable = codes(decision)
    assert decision.primary_fiche in applicable
    assert applicable[0] == decision.primary_fiche
    ranked = [code for code in BOOK.precedence if code in applicable]
    assert ranked == applicable or applicable == ["FR00"]


@given(facts_st, territory_st, weather_st)
def test_fr00_applies_iff_no_other_fiche_does(facts: Facts, territory: Territory, weather: WeatherPlan | None) -> None:
    decision = route(facts, BOOK, territory, weather)
    # Asked to each fiche directly, not through route().
    others = [f.code for f in BOOK.ordered if f.applies is not None and f.applies(facts, weather) is not None]
    assert ("FR00" in codes(decision)) is (not others)
    assert codes(decision) == (others or ["FR00"])


@given(facts_st, territory_st, weather_st, st.sampled_from(FLAGS))
def test_adding_a_flag_never_relaxes_anything(
    facts: Facts, territory: Territory, weather: WeatherPlan | None, flag: str
) -> None:
    before = route(facts, BOOK, territory, weather)
    after = route(facts.with_flags(frozenset({flag})), BOOK, territory, weather)
    assert set(before.partners) <= set(after.partners)
    assert set(before.directives) <= set(after.directives)
    if before.deadlines is not None:
        assert after.deadlines is not None
        for kind in DEADLINE_KINDS:
            assert getattr(after.deadlines, kind) <= getattr(before.deadlines, kind)


@given(facts_st, territory_st, weather_st)
def test_each_deadline_is_the_shortest_of_the_applicable_fiches(
    facts: Facts, territory: Territory, weather: WeatherPlan | None
) -> None:
    decision = route(facts, BOOK, territory, weather)
    if not territory.in_paris:
        assert decision.deadlines is None
        return
    assert decision.deadlines is not None
    for kind in DEADLINE_KINDS:
        own = [getattr(BOOK.fiche(code).deadlines, kind) for code in codes(decision)]
        assert getattr(decision.deadlines, kind) == min(own)


@given(facts_st, weather_st)
@settings(max_examples=50)
def test_out_of_territory_gives_the_same_directives_plus_call_115(facts: Facts, weather: WeatherPlan | None) -> None:
    inside = route(facts, BOOK, TERRITORIES[0], weather)
    outside = route(facts, BOOK, TERRITORIES[-1], weather)
    assert outside.status == "out_of_territory"
    assert set(outside.directives) == set(inside.directives) | {"call_115"}
    assert codes(outside) == codes(inside)
    assert (outside.lead, outside.partners, outside.deadlines) == (None, (), None)


@given(facts_st, territory_st, weather_st)
def test_partners_and_directives_are_sorted_unions_and_json_round_trips(
    facts: Facts, territory: Territory, weather: WeatherPlan | None
) -> None:
    decision = route(facts, BOOK, territory, weather)
    assert list(decision.directives) == sorted(set(decision.directives))
    assert list(decision.partners) == sorted(set(decision.partners))
    if territory.in_paris:
        expected = set().union(*(BOOK.fiche(code).partners for code in codes(decision)))
        expected |= set().union(*(m.partners for m in BOOK.modifiers if m.when(facts, weather) is not None))
        assert set(decision.partners) == expected
    assert Decision.from_json(decision.to_json()) == decision
