"""`GET /health`'s answer (French docstrings: OpenAPI shows them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.api.schemas.base import Answer


class HealthOut(Answer):
    """L'état du service et de ce dont il dépend."""

    status: Literal["ok", "down"] = Field(description="`ok` quand tout répond, sinon `down`")
    checks: dict[str, str] = Field(
        description="État de chaque composant (`api`, `database`, `broker`, `relay`, "
        "`workers.<file>`, `scheduler`) : ok, down, silent (muet depuis plus de 30 s) ou unknown (broker injoignable)"
    )
    last_beat_seconds_ago: dict[str, float | None] = Field(
        description="Secondes depuis le dernier battement du relais, des workers de chaque file et du planificateur "
        "(null : jamais entendu) ; au-delà de 30 s, 503"
    )
    detail: str | None = Field(default=None, description="Ce qui est indisponible (seulement en 503)")
