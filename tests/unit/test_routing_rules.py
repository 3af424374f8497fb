"""Each rule of the reference and its boundaries, on the real fiches of the repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.core.facts import Facts, People, WeatherPlan
from services.core.fiches import load_fiches
from services.core.routing import FALLBACK_BECAUSE, Decision, resolve_lead, route
from services.core.territory import Territory, default_map

REPO = Path(__file__).resolve().parents[2]
BOOK = load_fiches(REPO / "fiches_reflexes")
MAP = default_map()
PARIS_13 = MAP.locate(arrondissement=13)
OUTSIDE = MAP.locate(postcode="93200")
ONE_ADULT = People(adults=1)


def decide(
    people: People = ONE_ADULT,
    flags: tuple[str, ...] = (),
    weather: WeatherPlan | None = None,
    territory: Territory = PARIS_13,
) -> Decision:
    return route(Facts(people, frozenset(flags)), BOOK, territory, weather)


def codes(decision: Decision) -> set[str]:
    return {fiche.code for fiche in decision.fiches}


def because(decision: Decision, code: str) -> tuple[str, ...]:
    return next(fiche.because for fiche in decision.fiches if fiche.code == code)


@pytest.mark.parametrize(
    ("people", "flags", "code", "expected_because"),
    [
        (People(adults=2, children=3), (), "FR01", ("children=3",)),
        (ONE_ADULT, ("pregnant",), "FR02", ("flag:pregnant",)),
        (ONE_ADULT, ("recent_birth",), "FR02", ("flag:recent_birth",)),
        (ONE_ADULT, ("pregnant", "recent_birth"), "FR02", ("flag:pregnant", "flag:recent_birth")),
        (People(unaccompanied_minors=2), (), "FR03", ("unaccompanied_minors=2",)),
        (ONE_ADULT, ("hospital_exit",), "FR04", ("flag:hospital_exit",)),
        (ONE_ADULT, ("prison_exit",), "FR04", ("flag:prison_exit",)),
        (ONE_ADULT, ("vital_emergency",), "FR05", ("flag:vital_emergency",)),
        (ONE_ADULT, ("psychiatric_distress",), "FR06", ("flag:psychiatric_distress",)),
        (ONE_ADULT, ("suicide_risk",), "FR06", ("flag:suicide_risk",)),
        (
            People(adults=2, adult_genders=("female", "female")),
            (),
            "FR07",
            ("adults=2", "children=0", "unaccompanied_minors=0", "adult_genders=all female"),
        ),
        (ONE_ADULT, ("violence",), "FR08", ("flag:violence",)),
        (People(adults=2, adult_age_bands=("60+",)), (), "FR09", ("adult_age_bands has 60+",)),
        (ONE_ADULT, ("disability",), "FR09", ("flag:disability",)),
        (ONE_ADULT, ("loss_of_autonomy",), "FR09", ("flag:loss_of_autonomy",)),
        (ONE_ADULT, ("care_leaver",), "FR10", ("flag:care_leaver",)),
        (
            People(adults=2, adult_age_bands=("18-25", "18-25")),
            (),
            "FR10",
            ("adults=2", "children=0", "adult_age_bands=all 18-25"),
        ),
        (ONE_ADULT, ("cold_exposure",), "FR11", ("flag:cold_exposure",)),
        (ONE_ADULT, ("heat_exposure",), "FR11", ("flag:heat_exposure",)),
        (People(), ("camp",), "FR12", ("flag:camp",)),
        (ONE_ADULT, ("drug_use",), "FR13", ("flag:drug_use",)),
        (ONE_ADULT, ("deceased",), "FR14", ("flag:deceased",)),
    ],
)
def test_each_fiche_applies_alone_and_says_why(
    people: People, flags: tuple[str, ...], code: str, expected_because: tuple[str, ...]
) -> None:
    decision = decide(people, flags)
    assert codes(decision) == {code}
    assert decision.primary_fiche == code
    assert because(decision, code) == expected_because
    fiche = BOOK.fiche(code)
    assert decision.lead == resolve_lead(fiche.lead, PARIS_13)
    assert set(decision.partners) == set(fiche.partners)
    assert decision.deadlines is not None
    assert (decision.deadlines.ack, decision.deadlines.contact, decision.deadlines.resolve) == fiche.deadlines
    assert decision.checklist == fiche.checklist


def test_nothing_applies_gives_the_general_procedure() -> None:
    decision = decide(People(adults=1, adult_genders=("male",), adult_age_bands=("26-59",)))
    assert decision.primary_fiche == "FR00"
    assert [(f.code, f.because) for f in decision.fiches] == [("FR00", FALLBACK_BECAUSE)]
    assert decision.lead == "cavs:sud"
    assert decision.partners == ()
    assert decision.directives == ()
    assert decision.deadlines is not None
    assert decision.deadlines.resolve == timedelta(days=14)


@pytest.mark.parametrize(
    "people",
    [
        People(adults=2, adult_genders=("female",)),  # partial list
        People(adults=1),  # not said
        People(adults=1, adult_genders=()),
        People(adults=2, adult_genders=("female", "unknown")),
        People(adults=2, adult_genders=("female", "male")),
        People(adults=1, children=1, adult_genders=("female",)),  # a family: FR01, not FR07
        People(adults=1, unaccompanied_minors=1, adult_genders=("female",)),
    ],
)
def test_women_alone_needs_every_adult_said_female_and_no_minor(people: People) -> None:
    assert "FR07" not in codes(decide(people))


@pytest.mark.parametrize(
    "people",
    [
        People(adults=2, adult_age_bands=("18-25",)),  # partial list
        People(adults=1),
        People(adults=2, adult_age_bands=("18-25", "26-59")),
        People(adults=1, children=1, adult_age_bands=("18-25",)),
    ],
)
def test_young_adults_needs_every_adult_aged_18_25_and_no_child(people: People) -> None:
    assert "FR10" not in codes(decide(people))


def test_a_partial_age_list_is_enough_for_an_elderly_person() -> None:
    decision = decide(People(adults=3, adult_age_bands=("unknown", "60+")))
    assert codes(decision) == {"FR09"}


def test_suicide_risk_alone_adds_call_15() -> None:
    assert "call_15" not in decide(flags=("psychiatric_distress",)).directives
    assert "call_15" in decide(flags=("suicide_risk",)).directives
    assert "call_15" in decide(flags=("psychiatric_distress", "suicide_risk")).directives


@pytest.mark.parametrize(
    ("weather", "applies"),
    [
        (None, False),
        (WeatherPlan("grand_froid", 1), False),
        (WeatherPlan("grand_froid", 2), True),
        (WeatherPlan("grand_froid", 3), True),
        (WeatherPlan("canicule", 2), False),
        (WeatherPlan("canicule", 3), True),
        (WeatherPlan("canicule", 4), True),
    ],
)
def test_weather_plan_thresholds(weather: WeatherPlan | None, applies: bool) -> None:
    decision = decide(ONE_ADULT, weather=weather)
    assert ("FR11" in codes(decision)) is applies
    if applies:
        assert weather is not None
        assert because(decision, "FR11") == ("people=1", f"weather:{weather.kind}={weather.level}")
        assert "call_115" in decision.directives


def test_weather_plan_needs_at_least_one_person() -> None:
    decision = decide(People(), flags=("camp",), weather=WeatherPlan("grand_froid", 3))
    assert codes(decision) == {"FR12"}


def test_weather_plan_counts_unaccompanied_minors_as_people() -> None:
    decision = decide(People(unaccompanied_minors=1), weather=WeatherPlan("canicule", 3))
    assert codes(decision) == {"FR03", "FR11"}
    assert decision.primary_fiche == "FR03"


def test_camp_without_anybody_counted_is_routed_to_the_mus() -> None:
    decision = decide(People(), flags=("camp",))
    assert decision.status == "routed"
    assert decision.primary_fiche == "FR12"
    assert decision.lead == "mus"


def test_primary_follows_precedence_and_deadlines_take_the_shortest() -> None:
    # FR09 (60+) and FR05 (vital emergency) and FR13 (drug use): FR05 is the most severe.
    decision = decide(People(adults=1, adult_age_bands=("60+",)), flags=("drug_use", "vital_emergency"))
    assert [f.code for f in decision.fiches] == ["FR05", "FR09", "FR13"]
    assert decision.primary_fiche == "FR05"
    assert decision.lead == "cavs:sud"
    assert decision.deadlines is not None
    applied = [BOOK.fiche(code).deadlines for code in ("FR05", "FR09", "FR13")]
    assert decision.deadlines.ack == min(d.ack for d in applied)
    assert decision.deadlines.contact == min(d.contact for d in applied)
    assert decision.deadlines.resolve == min(d.resolve for d in applied)


def test_deadlines_can_come_from_different_fiches() -> None:
    # FR05 (vital emergency) acknowledges within 15 min, FR03 (minor alone) resolves within 12 h.
    decision = decide(People(unaccompanied_minors=1), flags=("vital_emergency",))
    assert decision.primary_fiche == "FR05"
    assert decision.deadlines is not None
    assert decision.deadlines.ack == BOOK.fiche("FR05").deadlines.ack == timedelta(minutes=15)
    assert decision.deadlines.resolve == BOOK.fiche("FR03").deadlines.resolve == timedelta(hours=12)


def test_checklist_is_primary_then_others_then_modifiers_without_repeats() -> None:
    decision = decide(People(adults=1, children=2), flags=("violence", "animals", "child_in_danger"))
    fr08, fr01 = BOOK.fiche("FR08").checklist, BOOK.fiche("FR01").checklist
    modifier_steps = [step for m in BOOK.modifiers if m.code in ("child_in_danger", "animals") for step in m.checklist]
    assert decision.checklist == tuple(dict.fromkeys([*fr08, *fr01, *modifier_steps]))
    assert len(set(decision.checklist)) == len(decision.checklist)


@pytest.mark.parametrize(
    ("flag", "partner", "directive"),
    [
        ("immediate_danger", "police", "call_17"),
        ("child_in_danger", "crip-75", "call_119"),
        ("animals", "accueil-animaux", None),
    ],
)
def test_modifiers_add_partners_and_directives_whatever_the_fiches(
    flag: str, partner: str, directive: str | None
) -> None:
    for people, extra in ((ONE_ADULT, ()), (People(adults=2, children=1), ()), (ONE_ADULT, ("drug_use",))):
        without = decide(people, extra)
        with_flag = decide(people, (*extra, flag))
        assert with_flag.primary_fiche == without.primary_fiche
        assert with_flag.lead == without.lead
        assert with_flag.deadlines == without.deadlines
        assert set(with_flag.partners) == set(without.partners) | {partner}
        assert set(with_flag.directives) == set(without.directives) | ({directive} if directive else set())
        assert [(m.code, m.because) for m in with_flag.modifiers] == [(flag, (f"flag:{flag}",))]


def test_animals_add_a_checklist_step() -> None:
    step = next(m for m in BOOK.modifiers if m.code == "animals").checklist[0]
    assert "animaux" in step
    assert decide(flags=("animals",)).checklist[-1] == step
    assert step not in decide().checklist


def test_out_of_territory_keeps_the_reporter_directives_and_adds_call_115() -> None:
    decision = decide(flags=("vital_emergency", "child_in_danger"), territory=OUTSIDE)
    assert decision.status == "out_of_territory"
    assert decision.primary_fiche == "FR05"
    assert decision.lead is None
    assert decision.partners == ()
    assert decision.deadlines is None
    assert decision.directives == ("call_115", "call_119", "call_15")
    assert decision.checklist == BOOK.out_of_territory.checklist


def test_out_of_territory_by_coordinates() -> None:
    saint_denis = MAP.locate(lat=48.9356, lon=2.3597)
    decision = decide(territory=saint_denis)
    assert decision.status == "out_of_territory"
    assert decision.primary_fiche == "FR00"
    assert decision.directives == ("call_115",)


def test_coordinates_win_over_a_disagreeing_postcode_and_the_decision_says_so() -> None:
    territory = MAP.locate(lat=48.831, lon=2.3555, postcode="75005")
    decision = decide(People(adults=1, children=1), territory=territory)
    assert territory.arrondissement == 13
    assert decision.lead == "eps:paris-13"
    assert decision.notes == ("postcode_disagrees:75005",)


def test_postcode_75116_is_the_16th() -> None:
    decision = decide(flags=("care_leaver",), territory=MAP.locate(postcode="75116"))
    assert decision.lead == "eps:paris-16"


@pytest.mark.parametrize(
    ("arrondissement", "eps", "cavs"),
    [(1, "eps:paris-centre", "cavs:ouest"), (4, "eps:paris-centre", "cavs:ouest"), (18, "eps:paris-18", "cavs:nord")],
)
def test_leads_are_resolved_on_the_territory(arrondissement: int, eps: str, cavs: str) -> None:
    territory = MAP.locate(arrondissement=arrondissement)
    assert decide(People(adults=1, children=1), territory=territory).lead == eps
    assert decide(territory=territory).lead == cavs
    assert decide(flags=("camp",), territory=territory).lead == "mus"


def test_decision_records_versions_and_the_book_fingerprint_and_round_trips_json() -> None:
    decision = decide(People(adults=1, children=1), flags=("animals", "violence"), weather=WeatherPlan("canicule", 3))
    assert {(f.code, f.version) for f in decision.fiches} == {(c, BOOK.version(c)) for c in ("FR01", "FR08", "FR11")}
    assert decision.fiche_book == BOOK.fingerprint
    assert Decision.from_json(decision.to_json()) == decision
    outside = decide(territory=OUTSIDE)
    assert Decision.from_json(outside.to_json()) == outside


def test_decision_from_json_without_the_newer_fields() -> None:
    data = decide().to_json()
    del data["modifiers"], data["fiche_book"]
    assert Decision.from_json(data).fiche_book == ""
