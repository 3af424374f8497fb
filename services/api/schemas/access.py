"""Tokens, people and the audit trail as the administration routes answer them (French docstrings: OpenAPI
shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.api.schemas.base import Answer, Instant


class TokenOut(Answer):
    """Un jeton d'accès (jamais son secret)."""

    id: str = Field(description="Identifiant du jeton")
    name: str | None = Field(description="Nom donné au jeton")
    role: str = Field(description="Rôle : outreach, coordinator, analyst ou admin")
    leads: list[str] = Field(description="Pilotes d'un coordinateur (ex. `eps:paris-13`, `mus`)")
    created_at: Instant = Field(description="Heure de création")
    expires_at: Instant | None = Field(description="Heure d'expiration ; null s'il n'expire pas")
    revoked_at: Instant | None = Field(description="Heure de révocation ; null s'il est actif")


class TokenList(Answer):
    """Les jetons."""

    items: list[TokenOut] = Field(description="Les jetons, actifs et révoqués")


class TokenCreated(Answer):
    """Le secret d'un nouveau jeton, montré cette seule fois."""

    token: str = Field(description="Le jeton à présenter en `Authorization: Bearer <jeton>`")


class UserOut(Answer):
    """Une personne qui se connecte aux pages (jamais son mot de passe)."""

    id: str = Field(description="Identifiant de la personne")
    username: str = Field(description="Identifiant de connexion")
    role: str = Field(description="Rôle : outreach, coordinator, analyst ou admin")
    leads: list[str] = Field(description="Pilotes d'un coordinateur")
    created_at: Instant = Field(description="Heure de création")
    disabled_at: Instant | None = Field(description="Heure de désactivation ; null si active")


class UserList(Answer):
    """Les personnes."""

    items: list[UserOut] = Field(description="Les personnes")


class AuditEntryOut(Answer):
    """Une lecture de données personnelles ou une action."""

    id: int = Field(description="Numéro de l'entrée (croissant)")
    at: Instant = Field(description="Heure")
    actor: str = Field(description="Qui (rôle et nom)")
    principal_id: str = Field(description="Identifiant du jeton ou de la personne")
    role: str = Field(description="Rôle de l'appelant")
    action: str = Field(description="Action (ex. `situation.read`, `situation.resolve`, `signal.read`)")
    situation_id: str | None = Field(description="Situation concernée")
    signal_id: str | None = Field(description="Signalement concerné")
    client: str | None = Field(description="Adresse de l'appelant")
    detail: dict[str, Any] = Field(description="Détails propres à l'action")


class AuditPage(Answer):
    """Une page du journal d'audit, du plus ancien au plus récent."""

    items: list[AuditEntryOut] = Field(description="Les entrées de la page")
    next_cursor: str | None = Field(description="À passer en `?cursor=` pour la page suivante ; null à la dernière")
