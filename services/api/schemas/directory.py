"""The directory of alerted structures and the dead letters, as their routes answer them (French docstrings:
OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.api.schemas.base import Answer, Instant


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
    """Un travail qui a échoué à chaque essai."""

    id: int = Field(description="Numéro de la lettre")
    task: str = Field(description="Tâche en échec")
    payload: dict[str, Any] = Field(description="Ses arguments (identifiants et codes, jamais de données personnelles)")
    error: str = Field(description="La dernière erreur")
    created_at: Instant = Field(description="Heure de mise de côté")
    outbox_id: int | None = Field(description="Ligne de la boîte d'envoi d'origine")


class DeadLetterPage(Answer):
    """Une page de lettres mortes, de la plus récente à la plus ancienne."""

    items: list[DeadLetterOut] = Field(description="Les lettres de la page")
    next_before: int | None = Field(description="À passer en `?before=` pour la page suivante ; null à la dernière")
