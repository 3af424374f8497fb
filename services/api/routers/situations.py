"""Coordinators' queues and situations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from services.api.deps import SessionDep, require_roles
from services.core.access import Principal, validate_lead
from services.core.access.policy import can_read_queue, can_see_situation
from services.core.clock import utc_now
from services.core.errors import NotFound
from services.core.models import OPEN_STATUSES, Situation
from services.core.situations.views import (
    DEFAULT_PAGE,
    MAX_PAGE,
    SituationFilter,
    list_situations,
    situation_view,
)

router = APIRouter(prefix="/v1", tags=["situations"])
COORDINATION = require_roles("coordinator", "admin")
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"au plus {MAX_PAGE}")]
ALL_STATUSES = (*OPEN_STATUSES, "resolved", "merged")


@router.get("/queues/{lead}")
def read_queue(
    lead: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(COORDINATION)],
    limit: Limit = DEFAULT_PAGE,
    cursor: str | None = None,
) -> dict[str, Any]:
    if validate_lead(lead) is not None:
        raise NotFound(f"file inconnue : {lead}")
    if not can_read_queue(principal, lead):
        raise HTTPException(403, f"la file {lead} n'est pas la vôtre")
    where = SituationFilter(lead=lead, include_escalated=lead == "mus")
    return list_situations(session, where, now=utc_now(), limit=limit, cursor=cursor)


def _mus_or_admin(principal: Annotated[Principal, Depends(COORDINATION)]) -> Principal:
    if principal.role != "admin" and not principal.is_mus:
        raise HTTPException(403, "réservé à la Mission Urgence Sociale et aux administrateurs")
    return principal


@router.get("/situations")
def search_situations(
    session: SessionDep,
    _: Annotated[Principal, Depends(_mus_or_admin)],
    sector: str | None = None,
    lead: str | None = None,
    status: Annotated[str | None, Query(pattern="^(new|acknowledged|in_progress|resolved|merged)$")] = None,
    primary_fiche: Annotated[str | None, Query(pattern="^FR[0-9]{2}$")] = None,
    opened_from: datetime | None = None,
    opened_to: datetime | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: str | None = None,
) -> dict[str, Any]:
    where = SituationFilter(
        lead=lead,
        statuses=(status,) if status else ALL_STATUSES,
        sector=sector,
        primary_fiche=primary_fiche,
        opened_from=opened_from,
        opened_to=opened_to,
    )
    return list_situations(session, where, now=utc_now(), limit=limit, cursor=cursor)


@router.get("/situations/{situation_id}")
def read_situation(
    situation_id: str, session: SessionDep, principal: Annotated[Principal, Depends(COORDINATION)]
) -> dict[str, Any]:
    situation = session.get(Situation, situation_id)
    if situation is None or not can_see_situation(principal, situation):
        raise NotFound("situation introuvable")
    return situation_view(session, situation, utc_now())
