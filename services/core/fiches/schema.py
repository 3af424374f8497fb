"""The shape of the files, as pydantic models: unknown keys and wrong types are refused (strict, no coercion).

Conditions are kept raw here (`Any`) and compiled by `conditions.py`, which reports precise dotted paths.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.core.fiches.durations import parse_duration
from services.core.fiches.vocabulary import DIRECTIVES, LEAD_KINDS, PARTNERS

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def _one_of(allowed: tuple[str, ...], unknown: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{unknown} : {value!r} (attendu : {', '.join(allowed)})")
        return value

    return check


def _duration(value: object) -> timedelta:
    if not isinstance(value, str):
        raise ValueError("durée ISO 8601 attendue sous forme de texte, par exemple PT1H")
    return parse_duration(value)


def _unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"valeur en double : {value!r}")
        seen.add(value)
    return values


def _bare_directive(value: object) -> object:
    # `- call_115` is shorthand for `- {code: call_115}`.
    return {"code": value} if isinstance(value, str) else value


Text = Annotated[str, Field(min_length=1)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
Partner = Annotated[str, AfterValidator(_one_of(PARTNERS, "partenaire inconnu"))]
DirectiveCode = Annotated[str, AfterValidator(_one_of(DIRECTIVES, "consigne inconnue"))]
LeadKind = Annotated[str, AfterValidator(_one_of(LEAD_KINDS, "type de pilote inconnu"))]
# The declared, human version; the loader appends a content hash after a "+".
DeclaredVersion = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")]
FicheCode = Annotated[str, Field(pattern=r"^FR\d{2}$")]
Partners = Annotated[list[Partner], AfterValidator(_unique)]
DirectiveCodes = Annotated[list[DirectiveCode], AfterValidator(_unique)]
Checklist = Annotated[list[Text], Field(min_length=1), AfterValidator(_unique)]


class DeadlinesModel(BaseModel):
    model_config = _STRICT

    ack: Duration
    contact: Duration
    resolve: Duration

    @model_validator(mode="after")
    def _ordered(self) -> DeadlinesModel:
        if not self.ack <= self.contact <= self.resolve:
            raise ValueError("ordre des délais invalide : il faut ack ≤ contact ≤ resolve")
        return self


class DirectiveModel(BaseModel):
    model_config = _STRICT

    code: DirectiveCode
    when: Any = None  # a condition: the directive is given only when it holds (FR06: call_15 if suicide_risk)


class FicheModel(BaseModel):
    model_config = _STRICT

    code: FicheCode
    label: Text
    version: DeclaredVersion
    summary: Text | None = None  # when the fiche applies, in words, for people
    applies_when: Any = None  # a condition; required for every fiche but FR00
    lead: LeadKind
    partners: Partners = []
    directives: list[Annotated[DirectiveModel, BeforeValidator(_bare_directive)]] = []
    deadlines: DeadlinesModel
    checklist: Checklist


class PrecedenceModel(BaseModel):
    model_config = _STRICT

    version: DeclaredVersion
    order: Annotated[list[FicheCode], Field(min_length=1), AfterValidator(_unique)]


class ModifierModel(BaseModel):
    model_config = _STRICT

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    label: Text
    when: Any
    partners: Partners = []
    directives: DirectiveCodes = []
    checklist: Annotated[list[Text], AfterValidator(_unique)] = []


class OutOfTerritoryModel(BaseModel):
    model_config = _STRICT

    directives: DirectiveCodes
    checklist: Annotated[list[Text], AfterValidator(_unique)] = []


class ModifiersModel(BaseModel):
    model_config = _STRICT

    version: DeclaredVersion
    modifiers: list[ModifierModel]
    out_of_territory: OutOfTerritoryModel
