"""The coordinators' workspace: home by role, the queues, the situation page, the map, the weather plan and the
administration. Thin: each page calls the same core functions and the same policy as the API routes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from services.api.deps import SessionDep, TerritoryDep
from services.api.web.auth import PagePrincipal, PageRoute, require_page_roles
from services.api.web.formats import lead_label, sector_label, time_left
from services.api.web.render import home_path, render
from services.core.access import Principal
from services.core.access.policy import readable_queue
from services.core.clock import utc_now
from services.core.db import statement_by_statement
from services.core.fiches import FicheBook
from services.core.leads import LEAD_MUS
from services.core.paging import MAX_PAGE
from services.core.procedures import fiches_in_force
from services.core.situations.live import high_water
from services.core.situations.status import OPEN_STATUSES, status_label
from services.core.situations.views import SituationFilter, queue_item, queue_page
from services.core.territory import SECTORS

router = APIRouter(route_class=PageRoute, include_in_schema=False)
COORDINATION = require_page_roles("coordinator", "admin")
Coordination = Annotated[Principal, Depends(COORDINATION)]
QUEUE_PAGE = 100


@router.get("/")
async def home(principal: PagePrincipal) -> Response:
    return RedirectResponse(home_path(principal), status_code=303)


@router.get("/file")
async def my_queue(principal: Coordination) -> Response:
    """A coordinator's first lead (the MUS: its own queue, with the escalations)."""
    return RedirectResponse(home_path(principal) if principal.role == "coordinator" else "/file/mus", status_code=303)


def queue_rows(
    session: Session,
    lead: str,
    *,
    status: str | None,
    fiche: str | None,
    sector: str | None,
    cursor: str | None,
    limit: int = QUEUE_PAGE,
    fiches: FicheBook | None = None,
) -> dict[str, Any]:
    """The items of `GET /v1/queues/{lead}` (same core function, same order), with what the page writes.
    `fiches`: the book in force when the caller has read it already."""
    where = SituationFilter(
        lead=lead,
        include_escalated=lead == LEAD_MUS,
        statuses=(status,) if status else OPEN_STATUSES,
        sector=sector,
        primary_fiche=fiche,
    )
    now = utc_now()
    page = queue_page(session, where, limit=min(limit, MAX_PAGE), cursor=cursor)
    fiches = fiches or fiches_in_force(session)
    labels = {code: fiches.label(code) if code in fiches else code for code in {r.primary_fiche for r in page.rows}}
    items = []
    for row in page.rows:
        item = queue_item(row, now)
        item["arrondissement"] = row.arrondissement
        item["fiche_label"] = labels[row.primary_fiche]
        item["status_label"] = status_label(row.status)
        item["time_left"], item["overdue"] = time_left(item["next_deadline"], now)
        items.append(item)
    return {"items": items, "next_cursor": page.next_cursor}


Status = Annotated[str | None, Query(alias="statut", max_length=20)]
FicheCode = Annotated[str | None, Query(alias="fiche", max_length=10)]
Sector = Annotated[str | None, Query(alias="secteur", max_length=30)]


@router.get("/file/{lead}")
def queue_view(
    lead: str,
    request: Request,
    session: SessionDep,
    principal: Coordination,
    territory_map: TerritoryDep,
    statut: Status = None,
    fiche: FicheCode = None,
    secteur: Sector = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    readable_queue(principal, lead, territory_map)
    statement_by_statement(session)  # reads only (before the first one)
    status = statut if statut in OPEN_STATUSES else None
    fiches = fiches_in_force(session)
    code = fiche if fiche in fiches else None
    sector = secteur if secteur in SECTORS else None
    filters = {"statut": status or "", "fiche": code or "", "secteur": sector or ""}
    since = high_water(session)  # read first: the live stream replays whatever commits after it
    page = queue_rows(session, lead, status=status, fiche=code, sector=sector, cursor=cursor, fiches=fiches)
    return render(
        request,
        "queue.html",
        principal=principal,
        title=f"File {lead_label(lead)}",
        lead=lead,
        with_escalations=lead == LEAD_MUS,
        items=page["items"],
        next_cursor=page["next_cursor"],
        since=since,
        filters=filters,
        filters_query="".join(f"{urlencode({k: v})}&" for k, v in filters.items() if v),
        status_options=[(value, status_label(value)) for value in OPEN_STATUSES],
        fiche_options=[(f.code, f"{f.code} — {f.label}") for f in fiches],
        sector_options=[(sector, sector_label(sector)) for sector in SECTORS],
    )
