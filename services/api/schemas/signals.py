"""A signal as `GET /v1/signals/{id}` answers it, and the parts situations show of their signals.

Docstrings of answer models are French: OpenAPI shows them to the API's readers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.api.schemas.base import Answer, Instant
from services.core.facts import AgeBand, Flag, Gender
from services.core.signals.schemas import Source

SignalStatus = Literal["received", "routed", "out_of_territory"]


class PeopleOut(Answer):
    adults: int = Field(description="Nombre d'adultes")
    children: int = Field(description="Nombre d'enfants accompagnés")
    unaccompanied_minors: int = Field(description="Nombre de mineurs non accompagnés")
    adult_genders: list[Gender] | None = Field(description="Genre de chaque adulte, si donné (peut être partiel)")
    adult_age_bands: list[AgeBand] | None = Field(
        description="Tranche d'âge de chaque adulte, si donnée (peut être partielle)"
    )


class LocationOut(Answer):
    """La localisation telle que donnée (donnée personnelle)."""

    lat: float | None = Field(default=None, description="Latitude WGS84")
    lon: float | None = Field(default=None, description="Longitude WGS84")
    postcode: str | None = Field(default=None, description="Code postal")
    address: str | None = Field(default=None, description="Adresse")
    arrondissement: int | None = Field(default=None, description="Arrondissement donné par l'émetteur (1 à 20)")


class AppliedFiche(Answer):
    code: str = Field(description="Code de la fiche réflexe (ex. FR01)")
    version: str = Field(description="Version de la fiche appliquée")
    because: list[str] = Field(description="Les faits qui l'ont déclenchée (ex. `children=3`)")


class DeadlinesOut(Answer):
    ack: Instant | None = Field(description="Échéance de prise en compte")
    contact: Instant | None = Field(description="Échéance du premier contact")
    resolve: Instant | None = Field(description="Échéance de résolution")


class RoutingOut(Answer):
    """La décision de ce signalement, d'après ses seuls faits (sa situation porte la décision combinée)."""

    primary_fiche: str = Field(description="Fiche réflexe principale")
    fiches: list[AppliedFiche] = Field(description="Toutes les fiches appliquées, par ordre de priorité")
    lead: str | None = Field(description="Pilote (`eps:<secteur>`, `cavs:<zone>`, `mus`) ; null hors territoire")
    partners: list[str] = Field(description="Partenaires alertés (codes, triés)")
    directives: list[str] = Field(description="Consignes immédiates (ex. `call_115`), triées")
    deadlines: DeadlinesOut | None = Field(description="Échéances absolues ; null hors territoire")
    notes: list[str] = Field(description="Remarques du routage (ex. désaccord sur le territoire)")


class SignalPersonal(Answer):
    """Champs lus seulement par les pilotes concernés, la MUS et l'émetteur (chaque lecture est tracée) ; absents
    sinon."""

    location: LocationOut | None = Field(default=None, description="Localisation telle que donnée (donnée personnelle)")
    place: str | None = Field(default=None, description="Précision du lieu, texte libre (donnée personnelle)")
    description: str | None = Field(default=None, description="Description, texte libre (donnée personnelle)")


class SignalFacts(Answer):
    id: str = Field(description="Identifiant du signalement")
    received_at: Instant = Field(description="Heure de réception")
    observed_at: Instant = Field(description="Heure d'observation")
    source: Source = Field(description="Origine du signalement")
    people: PeopleOut = Field(description="Les personnes observées")
    flags: list[Flag] = Field(description="Drapeaux (vocabulaire des fiches réflexes)")


class SignalSummary(SignalPersonal, SignalFacts):
    """Un signalement tel que sa situation le liste."""


class SignalRouting(SignalFacts):
    status: SignalStatus = Field(
        description="`received` (pas encore routé), `routed` ou `out_of_territory` (hors de Paris)"
    )
    arrondissement: int | None = Field(description="Arrondissement retenu ; null avant routage ou hors territoire")
    sector: str | None = Field(description="Secteur (ex. `paris-13`) ; null avant routage ou hors territoire")
    situation_id: str | None = Field(description="La situation rejointe ; null avant routage ou hors territoire")
    routing: RoutingOut | None = Field(description="La décision de routage de ce signalement ; null avant routage")
    routing_error: str | None = Field(description="Erreur de routage persistante, signalée aux personnes ; sinon null")


class SignalOut(SignalPersonal, SignalRouting):
    """Un signalement, son routage et, pour qui peut les lire, ses données personnelles."""


class SignalPage(Answer):
    """Une page de signalements, du plus récent au plus ancien."""

    items: list[SignalOut] = Field(description="Les signalements de la page (sans données personnelles)")
    next_cursor: str | None = Field(description="À passer en `?cursor=` pour la page suivante ; null à la dernière")
