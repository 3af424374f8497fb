"""Routing: a pure function from a signal's facts to a decision (invariant 4).

No I/O, no clock: the caller loads the fiches, the territory and the weather plan, and turns the relative
deadlines into instants from the signal's reception time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from services.core.deadlines import DEADLINE_KINDS, Deadlines, tightest
from services.core.facts import Facts, WeatherPlan
from services.core.fiches import Fiche, FicheBook
from services.core.leads import LEAD_MUS, Lead
from services.core.territory import Territory


@dataclass(frozen=True)
class AppliedFiche:
    code: str
    version: str
    # The facts that made the fiche apply, e.g. ("children=3",) or ("flag:pregnant",).
    because: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    status: Literal["routed", "out_of_territory"]
    primary_fiche: str
    fiches: tuple[AppliedFiche, ...]
    lead: str | None
    partners: tuple[str, ...]  # sorted, unqualified partner codes
    directives: tuple[str, ...]  # sorted
    deadlines: Deadlines[timedelta] | None  # None out of territory: nobody owns the signal
    checklist: tuple[str, ...]  # French steps for the lead, in order
    notes: tuple[str, ...] = ()  # e.g. territory disagreements
    # The modifiers that applied (code, version of modifiers.yaml's entry, the facts that triggered them).
    modifiers: tuple[AppliedFiche, ...] = ()
    # Fingerprint of the whole fiche book (fiches, precedence, modifiers) the decision was computed with.
    fiche_book: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "primary_fiche": self.primary_fiche,
            "fiches": [{"code": f.code, "version": f.version, "because": list(f.because)} for f in self.fiches],
            "lead": self.lead,
            "partners": list(self.partners),
            "directives": list(self.directives),
            "deadlines": None
            if self.deadlines is None
            else {kind: getattr(self.deadlines, kind).total_seconds() for kind in DEADLINE_KINDS},
            "checklist": list(self.checklist),
            "notes": list(self.notes),
            "modifiers": [{"code": m.code, "version": m.version, "because": list(m.because)} for m in self.modifiers],
            "fiche_book": self.fiche_book,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        deadlines = data["deadlines"]
        return cls(
            status=data["status"],
            primary_fiche=data["primary_fiche"],
            fiches=tuple(AppliedFiche(f["code"], f["version"], tuple(f["because"])) for f in data["fiches"]),
            lead=data["lead"],
            partners=tuple(data["partners"]),
            directives=tuple(data["directives"]),
            deadlines=None
            if deadlines is None
            else Deadlines(*(timedelta(seconds=deadlines[kind]) for kind in DEADLINE_KINDS)),
            checklist=tuple(data.get("checklist", ())),
            notes=tuple(data.get("notes", ())),
            modifiers=tuple(
                AppliedFiche(m["code"], m["version"], tuple(m["because"])) for m in data.get("modifiers", ())
            ),
            fiche_book=data.get("fiche_book", ""),
        )


def resolve_lead(kind: str, territory: Territory) -> str:
    """A fiche names a lead kind (`eps`, `cavs`, `mus`); the territory makes it a queue id."""
    if kind == LEAD_MUS:
        return LEAD_MUS
    if kind == "eps" and territory.sector is not None:
        return str(Lead.eps(territory.sector))
    if kind == "cavs" and territory.cavs_zone is not None:
        return str(Lead.cavs(territory.cavs_zone))
    if kind in ("eps", "cavs"):  # only a place in Paris has a lead (route() answers out_of_territory first)
        raise ValueError(f"pilote {kind} hors de Paris")
    raise ValueError(f"type de pilote inconnu : {kind}")


# Why FR00 applied: nothing else did.
FALLBACK_BECAUSE: tuple[str, ...] = ("no_other_fiche",)


def route(facts: Facts, fiches: FicheBook, territory: Territory, weather: WeatherPlan | None) -> Decision:
    """The decision for one signal, from its facts alone; the same inputs always give the same decision.

    Out of territory the fiches are still evaluated, so the reporter still gets call_15, call_119…, plus the
    book's out-of-territory directives (call_115: the 115 of the département concerned); nobody here leads, so
    there is no lead, partner, deadline nor fiche checklist.
    """
    applied: list[tuple[Fiche, tuple[str, ...]]] = []
    for fiche in fiches.ordered:  # precedence order: the first one found is the primary fiche
        because = fiche.applies(facts, weather) if fiche.applies is not None else None
        if because is not None:
            applied.append((fiche, tuple(dict.fromkeys(because))))
    if not applied:
        applied.append((fiches.fallback, FALLBACK_BECAUSE))
    primary = applied[0][0]

    modifiers: list[AppliedFiche] = []
    directives: set[str] = set()
    partners: set[str] = set()
    steps: list[str] = []
    for fiche, _ in applied:
        directives |= fiche.directives_for(facts, weather)
        partners |= fiche.partners
        steps += fiche.checklist
    for modifier in fiches.modifiers:
        because = modifier.when(facts, weather)
        if because is not None:
            modifiers.append(AppliedFiche(modifier.code, modifier.version, because))
            directives |= modifier.directives
            partners |= modifier.partners
            steps += modifier.checklist
    applied_fiches = tuple(AppliedFiche(fiche.code, fiche.version, because) for fiche, because in applied)

    if not territory.in_paris:
        outside = fiches.out_of_territory
        return Decision(
            status="out_of_territory",
            primary_fiche=primary.code,
            fiches=applied_fiches,
            lead=None,
            partners=(),
            directives=tuple(sorted(directives | outside.directives)),
            deadlines=None,
            checklist=outside.checklist,
            notes=territory.notes,
            modifiers=tuple(modifiers),
            fiche_book=fiches.fingerprint,
        )

    deadlines = primary.deadlines
    for fiche, _ in applied[1:]:
        deadlines = tightest(deadlines, fiche.deadlines)
    return Decision(
        status="routed",
        primary_fiche=primary.code,
        fiches=applied_fiches,
        lead=resolve_lead(primary.lead, territory),
        partners=tuple(sorted(partners)),
        directives=tuple(sorted(directives)),
        deadlines=deadlines,
        # Primary's steps first, then the others' in precedence order, then the modifiers'; each step once.
        checklist=tuple(dict.fromkeys(steps)),
        notes=territory.notes,
        modifiers=tuple(modifiers),
        fiche_book=fiches.fingerprint,
    )
