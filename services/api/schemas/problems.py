"""RFC 9457 problem details, as `services.api.problems` writes them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(
        description="Chemin du champ en cause, en notation pointée (ex. `location.lat`, `people.adults`) ; "
        "`(corps)` pour le corps entier, `(chemin)` pour le chemin de l'URL"
    )
    rule: str = Field(description="Nom de la règle enfreinte, stable pour les programmes (ex. `missing`, `enum`)")
    detail: str = Field(description="La règle en français, pour les personnes")


class ProblemDetails(BaseModel):
    """Toute réponse d'erreur (`application/problem+json`, RFC 9457), en français."""

    type: str = Field(description="URI qui identifie le type de problème (ex. …/problemes/donnees-invalides)")
    title: str = Field(description="Intitulé court du type de problème, en français")
    status: int = Field(description="Le code de statut HTTP de la réponse")
    detail: str = Field(description="Ce qui ne va pas dans cette requête, en français")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Données invalides (400, 422) : chaque champ en cause, avec sa règle"
    )
