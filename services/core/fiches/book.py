"""The loaded fiches, immutable and ready for routing (conditions already compiled)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.core.deadlines import Deadlines
from services.core.facts import Facts, WeatherPlan
from services.core.fiches.conditions import Condition


@dataclass(frozen=True)
class Fiche:
    code: str
    label: str
    summary: str | None
    declared_version: str
    # "<declared>+<8 hex of the content hash>": changes whenever the content does, whatever the declared part.
    version: str
    lead: str  # a lead kind: eps, cavs or mus
    partners: frozenset[str]
    directives: frozenset[str]  # given whenever the fiche applies
    conditional_directives: tuple[tuple[str, Condition], ...]  # given when the fiche applies and this holds
    deadlines: Deadlines[timedelta]  # from the signal's reception: the caller adds the reception time
    checklist: tuple[str, ...]
    applies: Condition | None  # None only for the fallback (FR00)

    def directives_for(self, facts: Facts, weather: WeatherPlan | None) -> frozenset[str]:
        if not self.conditional_directives:
            return self.directives
        extra = {code for code, when in self.conditional_directives if when(facts, weather) is not None}
        return self.directives | extra


@dataclass(frozen=True)
class Modifier:
    """Added whatever the fiches, when its condition holds (e.g. immediate_danger → call_17 + police)."""

    code: str
    label: str
    version: str
    when: Condition
    partners: frozenset[str]
    directives: frozenset[str]
    checklist: tuple[str, ...]


@dataclass(frozen=True)
class OutOfTerritory:
    """What the reporter is told when the place is not in Paris (nobody here owns the signal)."""

    directives: frozenset[str]
    checklist: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class FicheBook:
    """Every fiche, the precedence order, the modifiers; `fingerprint` hashes all of it."""

    fiches: Mapping[str, Fiche]  # read-only (MappingProxyType), by code, FR00 included
    ordered: tuple[Fiche, ...]  # the rule fiches, most severe first (precedence order)
    fallback: Fiche  # FR00
    modifiers: tuple[Modifier, ...]
    out_of_territory: OutOfTerritory
    precedence_version: str
    modifiers_version: str
    fingerprint: str

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted(self.fiches))

    @property
    def precedence(self) -> tuple[str, ...]:
        return tuple(fiche.code for fiche in self.ordered)

    def fiche(self, code: str) -> Fiche:
        try:
            return self.fiches[code]
        except KeyError:
            raise KeyError(f"fiche inconnue : {code}") from None

    def label(self, code: str) -> str:
        return self.fiche(code).label

    def version(self, code: str) -> str:
        return self.fiche(code).version

    def __contains__(self, code: object) -> bool:
        return code in self.fiches

    def __iter__(self) -> Iterator[Fiche]:
        return iter(self.fiches[code] for code in self.codes)

    def __len__(self) -> int:
        return len(self.fiches)
