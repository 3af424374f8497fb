"""The weather plan as its routes answer it (French docstrings: OpenAPI shows them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.api.schemas.base import Answer, Instant


class WeatherPlanOut(Answer):
    """Le plan météo en vigueur (tout à null quand il n'y en a pas)."""

    kind: Literal["grand_froid", "canicule"] | None = Field(description="Plan : grand_froid ou canicule")
    level: int | None = Field(description="Niveau du plan")
    set_at: Instant | None = Field(description="Heure où il a été fixé")
    set_by: str | None = Field(description="Qui l'a fixé")
