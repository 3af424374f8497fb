"""The facts a signal carries, as routing reads them (the reference's "Facts" vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

Gender = Literal["female", "male", "other", "unknown"]
AgeBand = Literal["18-25", "26-59", "60+", "unknown"]
Flag = Literal[
    "vital_emergency",
    "deceased",
    "immediate_danger",
    "violence",
    "pregnant",
    "recent_birth",
    "child_in_danger",
    "psychiatric_distress",
    "suicide_risk",
    "disability",
    "loss_of_autonomy",
    "care_leaver",
    "hospital_exit",
    "prison_exit",
    "drug_use",
    "animals",
    "camp",
    "cold_exposure",
    "heat_exposure",
]
GENDERS: tuple[str, ...] = get_args(Gender)
AGE_BANDS: tuple[str, ...] = get_args(AgeBand)
FLAGS: tuple[str, ...] = get_args(Flag)
# Flags that make a signal valid with nobody counted (a camp seen from afar, a death).
FLAGS_WITHOUT_PEOPLE: frozenset[str] = frozenset({"camp", "deceased"})


@dataclass(frozen=True)
class People:
    adults: int = 0
    children: int = 0
    unaccompanied_minors: int = 0
    # Optional, possibly partial (length <= adults): None means "not said".
    adult_genders: tuple[str, ...] | None = None
    adult_age_bands: tuple[str, ...] | None = None

    @property
    def total(self) -> int:
        return self.adults + self.children + self.unaccompanied_minors


@dataclass(frozen=True)
class Facts:
    people: People
    flags: frozenset[str] = frozenset()

    def with_flags(self, add: frozenset[str] = frozenset(), remove: frozenset[str] = frozenset()) -> Facts:
        return Facts(people=self.people, flags=(self.flags | add) - remove)


@dataclass(frozen=True)
class WeatherPlan:
    kind: Literal["grand_froid", "canicule"]
    level: int


def people_from_json(data: dict[str, Any]) -> People:
    genders = data.get("adult_genders")
    bands = data.get("adult_age_bands")
    return People(
        adults=int(data.get("adults", 0)),
        children=int(data.get("children", 0)),
        unaccompanied_minors=int(data.get("unaccompanied_minors", 0)),
        adult_genders=None if genders is None else tuple(genders),
        adult_age_bands=None if bands is None else tuple(bands),
    )


def people_to_json(people: People) -> dict[str, Any]:
    return {
        "adults": people.adults,
        "children": people.children,
        "unaccompanied_minors": people.unaccompanied_minors,
        "adult_genders": None if people.adult_genders is None else list(people.adult_genders),
        "adult_age_bands": None if people.adult_age_bands is None else list(people.adult_age_bands),
    }


def facts_from_json(data: dict[str, Any]) -> Facts:
    return Facts(people=people_from_json(data.get("people", {})), flags=frozenset(data.get("flags", ())))


def facts_to_json(facts: Facts) -> dict[str, Any]:
    return {"people": people_to_json(facts.people), "flags": sorted(facts.flags)}


def combine_facts(a: Facts, b: Facts) -> Facts:
    """What two reports about the same household say together: the larger counts, every flag, and the
    adult details of the report that counted more adults (a partial list stays partial)."""
    fuller = a.people if a.people.adults >= b.people.adults else b.people
    people = People(
        adults=max(a.people.adults, b.people.adults),
        children=max(a.people.children, b.people.children),
        unaccompanied_minors=max(a.people.unaccompanied_minors, b.people.unaccompanied_minors),
        adult_genders=fuller.adult_genders,
        adult_age_bands=fuller.adult_age_bands,
    )
    return Facts(people=people, flags=a.flags | b.flags)
