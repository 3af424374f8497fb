"""The fiches réflexes as published versions, as their routes answer them (French docstrings: OpenAPI shows them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas.base import Answer, Instant


class FicheInForce(Answer):
    """Une fiche dans la version en vigueur."""

    code: str = Field(description="Code de la fiche, par exemple FR01")
    label: str = Field(description="Intitulé de la fiche")
    version: str = Field(description="Version : version déclarée + empreinte du contenu")
    document: dict[str, Any] = Field(
        description="Contenu de la fiche, de la même forme qu'un fichier de fiches_reflexes/"
    )


class FichesInForce(Answer):
    """Le recueil en vigueur : chaque fiche dans sa version publiée."""

    book: str = Field(description="Empreinte du recueil entier, enregistrée dans chaque décision")
    publication_id: int = Field(description="Numéro de la publication en vigueur")
    published_at: Instant = Field(description="Heure de la publication")
    published_by: str = Field(description="Qui l'a publiée")
    items: list[FicheInForce] = Field(description="Les fiches, par code")


class FicheVersionOut(Answer):
    """Une version d'une fiche : quand, par qui, pourquoi, et son contenu."""

    version: str = Field(description="Version : version déclarée + empreinte du contenu")
    publication_id: int = Field(description="Numéro de la publication qui l'a mise en vigueur")
    kind: Literal["seed", "publish", "rollback"] = Field(
        description="seed (graine fiches_reflexes/), publish (brouillon publié) ou rollback (retour arrière)"
    )
    published_at: Instant = Field(description="Heure de la publication")
    published_by: str = Field(description="Qui l'a publiée")
    reason: str = Field(description="Pourquoi")
    in_force: bool = Field(description="Vrai pour la version en vigueur")
    document: dict[str, Any] = Field(description="Contenu de la fiche dans cette version")


class FicheVersionsOut(Answer):
    """L'historique d'une fiche, la plus récente d'abord."""

    code: str = Field(description="Code de la fiche")
    items: list[FicheVersionOut] = Field(description="Les versions, la plus récente d'abord")


class DraftOut(Answer):
    """Un brouillon, déjà validé avec le reste du recueil en vigueur."""

    id: str = Field(description="Identifiant du brouillon")
    code: str = Field(description="Code de la fiche")
    version: str = Field(description="Version qu'aura la fiche une fois publiée")
    base_version: str | None = Field(description="Version en vigueur quand le brouillon a été fait")
    created_at: Instant = Field(description="Heure du brouillon")
    created_by: str = Field(description="Qui l'a fait")
    published_at: Instant | None = Field(description="Heure de sa publication (null tant qu'il n'est pas publié)")
    publication_id: int | None = Field(description="Numéro de sa publication")
    document: dict[str, Any] = Field(description="Contenu de la fiche proposée")


class Changed(Answer):
    """Combien de signalements changeraient, par ce qui change."""

    primary_fiche: int = Field(description="Fiche principale")
    lead: int = Field(description="Pilote")
    directives: int = Field(description="Consignes")
    deadlines: int = Field(description="Délais")


class ImpactExample(Answer):
    """Un signalement qui changerait : avant et après."""

    signal_id: str = Field(description="Identifiant du signalement")
    before: dict[str, Any] = Field(
        description="Avec la version en vigueur : primary_fiche, lead, directives, deadlines"
    )
    after: dict[str, Any] = Field(description="Avec le brouillon : mêmes champs")


class ImpactOut(Answer):
    """Les signalements de la période routés de nouveau avec le brouillon à la place de la version en vigueur."""

    days: int = Field(description="Nombre de jours rejoués")
    signals: int = Field(description="Signalements rejoués")
    changed: Changed = Field(description="Signalements dont la décision changerait, par ce qui change")
    examples: list[ImpactExample] = Field(
        description="Quelques signalements qui changeraient (pour les lecteurs de données personnelles seulement)"
    )


class PublicationOut(Answer):
    """Une publication : le recueil entier mis en vigueur."""

    publication_id: int = Field(description="Numéro de la publication")
    book: str = Field(description="Empreinte du recueil publié")
    kind: Literal["seed", "publish", "rollback"] = Field(description="seed, publish ou rollback")
    changed: list[str] = Field(description="Ce que la publication a changé (codes de fiches)")
    versions: dict[str, str] = Field(description="Version de chaque fiche dans le recueil publié")
    published_at: Instant = Field(description="Heure de la publication")
    published_by: str = Field(description="Qui l'a publiée")
    reason: str = Field(description="Pourquoi")


class PublishIn(BaseModel):
    """Publier un brouillon."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=1000, description="Pourquoi (inscrit dans l'historique)")


class RollbackIn(BaseModel):
    """Remettre en vigueur une version antérieure d'une fiche."""

    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=100, description="La version à remettre en vigueur")
    reason: str = Field(default="", max_length=1000, description="Pourquoi (inscrit dans l'historique)")
