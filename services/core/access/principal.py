"""The caller, as every authorization decision sees it: a token or a signed-in person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.core.leads import LEAD_MUS, Lead
from services.core.territory import SECTORS, TerritoryMap

ROLES: tuple[str, ...] = ("outreach", "coordinator", "analyst", "admin")


def validate_lead(lead: str, territory_map: TerritoryMap) -> str | None:
    """None when `lead` names a real queue (`eps:<sector>`, `cavs:<zone>`, `mus`), else why not, in French."""
    parsed = Lead.parse(lead)
    if parsed.is_mus:
        return None
    if parsed.kind == "eps" and parsed.where in SECTORS:
        return None
    if parsed.kind == "cavs" and parsed.where in territory_map.cavs_zones:
        return None
    return f"pilote inconnu : {lead!r} (attendu eps:<secteur>, cavs:<zone> ou mus)"


def validate_grant(role: str, leads: list[str], territory_map: TerritoryMap) -> str | None:
    """None when a role and its leads go together (tokens and people alike), else why not."""
    if role not in ROLES:
        return f"rôle inconnu : {role!r} (attendu : {', '.join(ROLES)})"
    if role == "coordinator" and not leads:
        return "un coordinateur a au moins un pilote (eps:paris-13, cavs:sud, mus)"
    if role != "coordinator" and leads:
        return "seuls les coordinateurs ont des pilotes"
    return next((problem for lead in leads if (problem := validate_lead(lead, territory_map))), None)


@dataclass(frozen=True)
class Principal:
    id: str  # the token's or the person's id
    kind: Literal["token", "user"]
    role: str
    leads: frozenset[str]
    name: str | None = None

    @property
    def actor(self) -> str:
        """How the caller appears in timelines and the audit."""
        return f"{self.role}:{self.name or self.id[:8]}"

    @property
    def is_mus(self) -> bool:
        return self.role == "coordinator" and LEAD_MUS in self.leads
