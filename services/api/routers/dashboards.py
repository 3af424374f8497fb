"""`GET /dashboards/{semester}`: the half-yearly dashboard page (`services/api/web/dashboard.py`), its PDF for
the meeting (`.pdf` or `?format=pdf`) and its CSV (`.csv` or `?format=csv`). Every number comes from the same
function as `GET /v1/stats/semesters/{semester}`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.api.deps import SessionDep, TerritoryDep
from services.api.statistics import STATISTICS_READERS, Variant, checked_scope, report_for
from services.api.web.dashboard import CONTENT_SECURITY_POLICY, render_dashboard
from services.core.access import Principal
from services.core.clock import utc_now
from services.core.procedures import fiches_in_force
from services.core.settings import get_settings
from services.core.stats.export import to_csv
from services.core.stats.pdf import PdfUnavailable, html_to_pdf
from services.core.stats.semesters import Semester

router = APIRouter(tags=["tableaux de bord"])


def _parse_name(name: str) -> tuple[str, str | None]:
    for suffix in ("pdf", "csv"):
        if name.endswith(f".{suffix}"):
            return name[: -len(suffix) - 1], suffix
    return name, None


@router.get("/dashboards/{name}", response_model=None, include_in_schema=False)
def dashboard(
    name: str,
    request: Request,
    session: SessionDep,
    territory_map: TerritoryDep,
    principal: Annotated[Principal, Depends(STATISTICS_READERS)],
    sector: Annotated[str | None, Query()] = None,
    variant: Annotated[Variant | None, Query()] = None,
    format: Annotated[Literal["html", "pdf", "csv"] | None, Query()] = None,
) -> Response:
    code, suffix = _parse_name(name)
    semester = Semester.parse(code)
    sector = sector or None  # the form sends an empty value for all Paris
    chosen = checked_scope(principal, sector, variant, territory_map)
    kind = suffix or format or "html"
    current = report_for(session, semester, sector, chosen)
    previous = report_for(session, semester.previous(), sector, chosen)
    if kind == "csv":
        filename = f"tableau-de-bord-{semester.code}-{sector or 'paris'}-{chosen}.csv"
        return Response(
            to_csv([current, previous]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    html = render_dashboard(
        current,
        previous,
        semester=semester,
        sector=sector,
        variant=chosen,
        principal=principal,
        generated_at=utc_now(),
        csrf_token=getattr(request.state, "csrf_token", ""),
        book=fiches_in_force(session),
        territory_map=territory_map,
    )
    if kind == "pdf":
        settings = get_settings()
        try:
            pdf = html_to_pdf(html, binary=settings.chromium_binary, timeout=settings.pdf_timeout_seconds)
        except PdfUnavailable as err:
            raise HTTPException(503, f"PDF indisponible : {err}") from err
        filename = f"tableau-de-bord-{semester.code}-{sector or 'paris'}.pdf"
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{filename}"'}
        )
    return HTMLResponse(html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})
