"""The caller, as every authorization decision sees it."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.territory import SECTORS, default_map

ROLES: tuple[str, ...] = ("outreach", "coordinator", "analyst", "admin")
LEAD_MUS = "mus"


def validate_lead(lead: str) -> str | None:
    """None when `lead` names a real queue (`eps:<sector>`, `cavs:<zone>`, `mus`), else why not, in French."""
    if lead == LEAD_MUS:
        return None
    kind, _, where = lead.partition(":")
    if kind == "eps" and where in SECTORS:
        return None
    if kind == "cavs" and where in set(default_map().zones.values()):
        return None
    return f"pilote inconnu : {lead!r} (attendu eps:<secteur>, cavs:<zone> ou mus)"


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    leads: frozenset[str]
    name: str | None = None

    @property
    def actor(self) -> str:
        """How the caller appears in timelines and the audit."""
        return f"{self.role}:{self.name or self.token_id[:8]}"

    @property
    def is_mus(self) -> bool:
        return self.role == "coordinator" and LEAD_MUS in self.leads
