"""The directory of alerted structures and the dead letters, as their routes answer them (French docstrings:
OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.api.schemas.base import Answer, Instant
from services.core.models import DeadLetter
from services.core.timefmt import rfc3339


class StructureOut(Answer):
    """Une structure alertée (pilote ou partenaire) et ses canaux."""

    code: str = Field(description="Code de la structure (ex. `eps:paris-13`, `siao-115`)")
    kind: str = Field(description="Genre : eps, cavs, mus, mairie ou partner")
    name: str = Field(description="Nom")
    active: bool = Field(description="Vrai quand ses alertes sont envoyées")
    webhook_url: str | None = Field(description="URL du webhook")
    webhook_secret_set: bool = Field(description="Vrai quand un secret de signature est enregistré (jamais montré)")
    email: str | None = Field(description="Adresse électronique")
    updated_at: Instant | None = Field(description="Heure de la dernière modification")
    updated_by: str | None = Field(description="Auteur de la dernière modification")


class StructureList(Answer):
    """L'annuaire."""

    items: list[StructureOut] = Field(description="Les structures, par code")


class DeadLetterOut(Answer):
    """Un travail qui a échoué à chaque essai, gardé pour les personnes (identifiants et codes seulement)."""

    id: int = Field(description="Numéro de la lettre")
    task: str = Field(description="Tâche en échec (ex. `urgence.route_signal`)")
    payload: dict[str, Any] = Field(description="Ses arguments (identifiants et codes, jamais de données personnelles)")
    error: str = Field(description="La dernière erreur")
    created_at: Instant = Field(description="Heure de mise de côté")
    outbox_id: int | None = Field(description="Ligne d'outbox abandonnée (aucune pour le balayage des échéances)")
    replayed_at: Instant | None = Field(description="Heure de la reprise ; null si elle n'a pas été rejouée")
    replayed_by: str | None = Field(description="Qui l'a rejouée ; null si elle ne l'a pas été")
    replay_outbox_id: int | None = Field(description="Ligne d'outbox écrite par la reprise")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        assert letter.id is not None
        return cls(
            id=letter.id,
            task=letter.task,
            payload=letter.payload,
            error=letter.error,
            created_at=rfc3339(letter.created_at) or "",
            outbox_id=letter.outbox_id,
            replayed_at=rfc3339(letter.replayed_at),
            replayed_by=letter.replayed_by,
            replay_outbox_id=letter.replay_outbox_id,
        )


class DeadLetterPage(Answer):
    """Une page de lettres mortes, de la plus récente à la plus ancienne."""

    items: list[DeadLetterOut] = Field(description="Les lettres de la page")
    next_cursor: str | None = Field(description="À passer en `?cursor=` pour la page suivante ; null à la dernière")
