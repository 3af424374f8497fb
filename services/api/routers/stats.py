"""`GET /v1/stats/semesters/{semester}`: the figures of a semester, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from services.api.deps import SessionDep, TerritoryDep
from services.api.schemas.stats import SemesterReport
from services.api.statistics import STATISTICS_READERS, Variant, checked_scope, report_for
from services.core.access import Principal
from services.core.stats.export import to_csv
from services.core.stats.semesters import Semester

router = APIRouter(prefix="/v1/stats", tags=["statistiques"])


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
    territory_map: TerritoryDep,
    principal: Annotated[Principal, Depends(STATISTICS_READERS)],
    sector: str | None = None,
    variant: Annotated[Variant | None, Query(description="internal (chiffres exacts) ou published")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    which = Semester.parse(semester)
    chosen = checked_scope(principal, sector, variant, territory_map)
    figures = report_for(session, which, sector, chosen)
    if format == "csv":
        name = f"statistiques-{which.code}-{sector or 'paris'}-{chosen}.csv"
        return Response(
            to_csv([figures]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(figures)
