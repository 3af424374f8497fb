"""Reading a semester's figures, shared by `GET /v1/stats/…` and the dashboards: who may read which scope, and
the one call that computes them."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Session

from services.api.deps import require_roles
from services.core.access import Principal
from services.core.access.policy import statistics_variant
from services.core.clock import utc_now
from services.core.errors import FieldError, InvalidInput
from services.core.procedures import fiches_in_force
from services.core.settings import get_settings
from services.core.stats.figures import semester_report
from services.core.stats.semesters import Semester
from services.core.territory import SECTORS, TerritoryMap

STATISTICS_READERS = require_roles("analyst", "admin", "coordinator")
Variant = Literal["internal", "published"]


def checked_scope(principal: Principal, sector: str | None, variant: str | None, territory_map: TerritoryMap) -> str:
    """Refuse an unknown sector (422) and what the caller may not read (403, `core/access/policy.py`); the
    variant to use (its default when none is asked for)."""
    if sector is not None and sector not in SECTORS:
        raise InvalidInput([FieldError("sector", "enum", f"secteur inconnu ; secteurs : {', '.join(SECTORS)}")])
    return statistics_variant(principal, sector, variant, territory_map.zones)


def report_for(session: Session, semester: Semester, sector: str | None, variant: str) -> dict[str, Any]:
    return semester_report(
        session,
        semester,
        sector=sector,
        variant=variant,
        now=utc_now(),
        threshold=get_settings().stats_small_count_threshold,
        fiche_codes=fiches_in_force(session).codes,
    )
