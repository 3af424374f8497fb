"""Situations as the queues, the search and `GET /v1/situations/{id}` answer them (French docstrings: OpenAPI
shows them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from services.api.schemas.base import Answer, Instant
from services.api.schemas.signals import AppliedFiche, SignalSummary

SituationStatus = Literal["new", "acknowledged", "in_progress", "resolved", "merged"]


class QueueItem(Answer):
    """Une situation dans une file ou une recherche."""

    id: str = Field(description="Identifiant de la situation")
    status: SituationStatus = Field(description="Statut : new, acknowledged, in_progress, resolved ou merged")
    primary_fiche: str = Field(description="Fiche réflexe principale (ex. FR01)")
    sector: str = Field(description="Secteur (ex. `paris-13`)")
    lead: str = Field(description="Pilote (`eps:<secteur>`, `cavs:<zone>` ou `mus`)")
    next_deadline: Instant | None = Field(description="Prochaine échéance à tenir ; null quand il n'en reste aucune")
    overdue: bool = Field(description="Vrai quand la prochaine échéance est dépassée")
    escalation_level: int = Field(description="Niveau d'escalade (0 : aucune)")
    signal_count: int = Field(description="Nombre de signalements rattachés")
    opened_at: Instant = Field(description="Heure d'ouverture")


class SituationPage(Answer):
    """Une page de situations, échéance la plus proche d'abord."""

    items: list[QueueItem] = Field(description="Les situations de la page")
    next_cursor: str | None = Field(description="À passer en `?cursor=` pour la page suivante ; null à la dernière")


class SituationDeadlines(Answer):
    ack: Instant = Field(description="Échéance de prise en compte")
    contact: Instant = Field(description="Échéance du premier contact")
    resolve: Instant = Field(description="Échéance de résolution")


class EventOut(Answer):
    """Un événement de la chronologie."""

    type: str = Field(description="Type d'événement (ex. `opened`, `acknowledged`, `contact_logged`, `escalated`)")
    at: Instant = Field(description="Heure de l'événement")
    actor: str = Field(description="Qui (rôle et nom du jeton ou de la personne, ou `system`)")
    data: dict[str, Any] = Field(
        description="Détails propres au type ; sans texte libre pour qui ne lit pas les données personnelles"
    )


class SituationOut(Answer):
    """Une situation, sa décision combinée, ses signalements et sa chronologie."""

    id: str = Field(description="Identifiant de la situation")
    status: SituationStatus = Field(description="Statut : new, acknowledged, in_progress, resolved ou merged")
    arrondissement: int = Field(description="Arrondissement (1 à 20)")
    sector: str = Field(description="Secteur (ex. `paris-13`)")
    lead: str = Field(description="Pilote (`eps:<secteur>`, `cavs:<zone>` ou `mus`)")
    primary_fiche: str = Field(description="Fiche réflexe principale")
    fiches: list[AppliedFiche] = Field(description="Fiches appliquées, par ordre de priorité")
    partners: list[str] = Field(description="Partenaires alertés")
    directives: list[str] = Field(description="Consignes immédiates")
    checklist: list[str] = Field(description="Étapes à suivre par le pilote, dans l'ordre")
    deadlines: SituationDeadlines = Field(description="Échéances")
    next_deadline: Instant | None = Field(description="Prochaine échéance à tenir ; null quand il n'en reste aucune")
    overdue: bool = Field(description="Vrai quand la prochaine échéance est dépassée")
    escalation_level: int = Field(description="Niveau d'escalade (0 : aucune)")
    escalation_reasons: list[str] = Field(description="Raisons des escalades (ex. `ack_overdue`, `manual`)")
    outcome: str | None = Field(description="Issue, une fois résolue (ex. `sheltered`) ; sinon null")
    opened_at: Instant = Field(description="Heure d'ouverture")
    updated_at: Instant = Field(description="Heure du dernier changement")
    acknowledged_at: Instant | None = Field(description="Heure de prise en compte")
    first_contact_at: Instant | None = Field(description="Heure du premier contact")
    resolved_at: Instant | None = Field(description="Heure de résolution")
    merged_into: str | None = Field(description="La situation dans laquelle celle-ci a été fusionnée ; sinon null")
    signal_count: int = Field(description="Nombre de signalements rattachés")
    signal_ids: list[str] = Field(description="Identifiants des signalements, du plus ancien au plus récent")
    signals: list[SignalSummary] = Field(description="Les signalements, du plus ancien au plus récent")
    events: list[EventOut] = Field(description="La chronologie, du plus ancien au plus récent")
