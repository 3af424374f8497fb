"""A semester's figures, as `GET /v1/stats/semesters/{semester}` answers them (French docstrings: OpenAPI
shows them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from services.api.schemas.base import Answer, Instant

# In the published variant a small count, or one that would give it away, is written "secret".
Count = Annotated[
    int | Literal["secret"], Field(description="Un effectif ; `secret` quand la variante publiée le masque")
]


class Period(Answer):
    start: Instant = Field(description="Début du semestre (inclus)")
    end: Instant = Field(description="Fin du semestre (exclue)")


class Durations(Answer):
    """Un délai mesuré sur les situations du semestre."""

    count: Count = Field(description="Nombre de situations mesurées")
    median_minutes: float | None = Field(description="Médiane, en minutes ; null sans mesure ou masquée")
    p90_minutes: float | None = Field(description="Délai tenu pour 9 situations sur 10, en minutes ; null sinon")


class StepShares(Answer):
    ack: float | None = Field(description="Prise en compte (0 à 1) ; null sans échéance ou masquée")
    contact: float | None = Field(description="Premier contact (0 à 1) ; null sans échéance ou masquée")
    resolve: float | None = Field(description="Résolution (0 à 1) ; null sans échéance ou masquée")


class StepCounts(Answer):
    ack: Count = Field(description="Échéances de prise en compte")
    contact: Count = Field(description="Échéances de premier contact")
    resolve: Count = Field(description="Échéances de résolution")


class SemesterReport(Answer):
    """Les chiffres d'un semestre, pour tout Paris ou un secteur."""

    semester: str = Field(description="Le semestre (AAAA-S1 ou AAAA-S2)")
    sector: str | None = Field(description="Le secteur ; null pour tout Paris")
    variant: Literal["internal", "published"] = Field(
        description="`internal` (chiffres exacts) ou `published` (petits effectifs masqués)"
    )
    period: Period = Field(description="Les bornes du semestre (heure de Paris)")
    as_of: Instant = Field(description="Heure du calcul")
    complete: bool = Field(description="Vrai quand le semestre est terminé")
    threshold: int | None = Field(description="Seuil de masquage de la variante publiée ; null en interne")
    signals_received: Count = Field(description="Signalements reçus")
    situations_opened: Count = Field(description="Situations ouvertes")
    situations_resolved: Count = Field(description="Situations résolues")
    open_at_end: Count = Field(description="Situations ouvertes en fin de semestre (à ce jour s'il est en cours)")
    escalations: Count = Field(description="Escalades")
    by_fiche: dict[str, Count] = Field(description="Situations ouvertes par fiche principale")
    by_source: dict[str, Count] = Field(description="Signalements reçus par origine")
    by_outcome: dict[str, Count] = Field(description="Situations résolues par issue")
    by_sector: dict[str, Count] = Field(description="Situations ouvertes par secteur")
    time_to_ack: Durations = Field(description="Délai de prise en compte, depuis la réception")
    time_to_contact: Durations = Field(description="Délai du premier contact, depuis la réception")
    time_to_resolve: Durations = Field(description="Délai de résolution, depuis la réception")
    deadlines_met: StepShares = Field(description="Part des échéances tenues, par étape")
    deadlines_due: StepCounts = Field(description="Nombre d'échéances du semestre, par étape")
