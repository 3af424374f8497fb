"""`GET /v1/stats/semesters/{semester}`: the figures of a semester, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response

from services.api.deps import SessionDep, require_roles
from services.api.schemas.stats import SemesterReport
from services.core.access import Principal
from services.core.access.policy import can_read_statistics, statistics_variants
from services.core.clock import utc_now
from services.core.errors import FieldError, InvalidInput
from services.core.procedures import fiches_in_force
from services.core.settings import get_settings
from services.core.stats.export import to_csv
from services.core.stats.figures import semester_report
from services.core.stats.semesters import Semester
from services.core.territory import SECTORS, default_map

router = APIRouter(prefix="/v1/stats", tags=["statistiques"])
STATISTICS_READERS = require_roles("analyst", "admin", "coordinator")
Variant = Literal["internal", "published"]


def checked_scope(principal: Principal, sector: str | None, variant: str | None) -> str:
    """Refuse what the caller may not read; the variant to use (its default when none is asked for)."""
    if sector is not None and sector not in SECTORS:
        raise InvalidInput([FieldError("sector", "enum", f"secteur inconnu ; secteurs : {', '.join(SECTORS)}")])
    if not can_read_statistics(principal, sector, default_map().zones):
        if sector is None:
            raise HTTPException(403, "précisez ?sector= : vous ne pouvez lire que les secteurs de vos pilotes")
        raise HTTPException(403, f"le secteur {sector} n'est pas dans vos pilotes")
    allowed = statistics_variants(principal)
    if variant is None:
        return allowed[0]
    if variant not in allowed:
        raise HTTPException(403, "les chiffres exacts (internal) sont réservés à la MUS et aux administrateurs")
    return variant


def report_for(session: SessionDep, semester: Semester, sector: str | None, variant: str) -> dict[str, Any]:
    return semester_report(
        session,
        semester,
        sector=sector,
        variant=variant,
        now=utc_now(),
        threshold=get_settings().stats_small_count_threshold,
        fiche_codes=fiches_in_force(session).codes,
    )


@router.get(
    "/semesters/{semester}",
    response_model=SemesterReport,
    summary="Lire les chiffres d'un semestre",
    description="Les chiffres d'un semestre (du 1er janvier au 30 juin ou du 1er juillet au 31 décembre, heure de "
    "Paris, selon l'heure de réception), pour tout Paris ou un secteur. Analystes, administrateurs et MUS : tout "
    "secteur ou tout Paris ; coordinateurs d'un secteur ou d'une zone : seulement avec `?sector=` l'un des leurs. "
    "La variante `published` masque les petits effectifs (`secret`) ; `internal` est réservée à la MUS et aux "
    "administrateurs. `?format=csv` donne les mêmes chiffres en CSV.",
    response_description="Les chiffres du semestre (JSON, ou CSV avec `format=csv`)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def read_semester(
    semester: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(STATISTICS_READERS)],
    sector: str | None = None,
    variant: Annotated[Variant | None, Query(description="internal (chiffres exacts) ou published")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    which = Semester.parse(semester)
    chosen = checked_scope(principal, sector, variant)
    figures = report_for(session, which, sector, chosen)
    if format == "csv":
        name = f"statistiques-{which.code}-{sector or 'paris'}-{chosen}.csv"
        return Response(
            to_csv([figures]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(figures)
