"""Coordinators' queues and situations, and the actions on a situation (thin: each action is taken by
`services.api.situation_actions`, as the situation page takes it). Every read of a situation's personal data and
every action is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlmodel import Session

from services.api import situation_actions
from services.api.deps import QueryInstant, SessionDep, TerritoryDep, client_address, require_roles, require_rule
from services.api.openapi import problems
from services.api.schemas.situations import SituationOut, SituationPage
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.access.policy import check_oversight, may_read_personal_data, readable_queue, visible_situation
from services.core.clock import utc_now
from services.core.leads import LEAD_MUS
from services.core.models import Situation
from services.core.paging import DEFAULT_PAGE, MAX_PAGE
from services.core.situations.schemas import ContactIn, MergeIn, ReasonIn, RequalifyIn, ResolveIn
from services.core.situations.status import ALL_STATUSES, STATUS_PATTERN
from services.core.situations.views import SituationFilter, list_situations, situation_view

router = APIRouter(prefix="/v1", tags=["situations"])
COORDINATION = require_roles("coordinator", "admin")
OVERSIGHT = require_rule(check_oversight, "coordinator", "admin")
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"au plus {MAX_PAGE}")]
# What every action answers: the situation as it now is (its personal fields, since the caller acts on it).
ACTION: dict[str, Any] = {
    "response_model": SituationOut,
    "response_model_exclude_unset": True,
    "response_description": "La situation après l'action",
    "responses": problems(404, 409),
}
ACTORS = (
    "Coordinateurs du pilote de la situation, MUS et administrateurs. Une action que le statut actuel ne permet "
    "pas : 409, qui nomme le statut."
)


@router.get(
    "/queues/{lead}",
    response_model=SituationPage,
    summary="Lire la file d'un pilote",
    description="Les situations ouvertes (`new`, `acknowledged`, `in_progress`) du pilote, échéance la plus "
    "proche d'abord ; pour `mus`, aussi toutes les situations escaladées. Coordinateurs de ce pilote, MUS et "
    "administrateurs. Paginée par `limit` et `cursor`.",
    response_description="Une page de la file",
    responses=problems(404),
)
def read_queue(
    lead: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(COORDINATION)],
    territory_map: TerritoryDep,
    limit: Limit = DEFAULT_PAGE,
    cursor: str | None = None,
) -> dict[str, Any]:
    readable_queue(principal, lead, territory_map)
    where = SituationFilter(lead=lead, include_escalated=lead == LEAD_MUS)
    return list_situations(session, where, now=utc_now(), limit=limit, cursor=cursor)


@router.get(
    "/situations",
    response_model=SituationPage,
    summary="Rechercher des situations",
    description="Toutes les situations, de tout statut, filtrées par secteur, pilote, statut, fiche principale "
    "et date d'ouverture, échéance la plus proche d'abord. MUS et administrateurs. Paginée par `limit` et "
    "`cursor`.",
    response_description="Une page de situations",
)
def search_situations(
    session: SessionDep,
    _: Annotated[Principal, Depends(OVERSIGHT)],
    sector: str | None = None,
    lead: str | None = None,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    primary_fiche: Annotated[str | None, Query(pattern="^FR[0-9]{2}$")] = None,
    opened_from: Annotated[QueryInstant | None, Query(description="RFC 3339, avec décalage horaire")] = None,
    opened_to: Annotated[QueryInstant | None, Query(description="RFC 3339, avec décalage horaire (exclu)")] = None,
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


@router.get(
    "/situations/{situation_id}",
    response_model=SituationOut,
    response_model_exclude_unset=True,
    summary="Lire une situation",
    description="La situation, sa décision combinée, ses signalements et sa chronologie. Coordinateurs de ses "
    "pilotes, MUS et administrateurs ; les données personnelles (lieux, descriptions, notes) ne sont montrées "
    "qu'aux pilotes et à la MUS, et chaque lecture est tracée.",
    response_description="La situation",
    responses=problems(404),
)
def read_situation(
    situation_id: str, request: Request, session: SessionDep, principal: Annotated[Principal, Depends(COORDINATION)]
) -> dict[str, Any]:
    situation = visible_situation(principal, session.get(Situation, situation_id))
    now = utc_now()
    personal = may_read_personal_data(principal, situation, submitted_by=None)
    if personal:
        audit(session, principal, "situation.read", now=now, client=client_address(request), situation_id=situation.id)
        session.commit()
    return situation_view(session, situation, now, personal=personal)


# --- Actions -------------------------------------------------------------------------------------------------


Actor = Annotated[Principal, Depends(COORDINATION)]


def _answer(session: Session, situation: Situation) -> dict[str, Any]:
    """The situation as the action left it, with its personal fields (the caller acts on it)."""
    return situation_view(session, situation, utc_now(), personal=True)


def _act(
    session: Session, request: Request, principal: Principal, situation_id: str, action: str, body: BaseModel | None
) -> dict[str, Any]:
    taken = situation_actions.take(session, principal, situation_id, action, body, client=client_address(request))
    return _answer(session, taken)


@router.post(
    "/situations/{situation_id}/acknowledge",
    **ACTION,
    summary="Prendre en compte une situation",
    description=f"`new` → `acknowledged`. {ACTORS}",
)
def acknowledge(situation_id: str, request: Request, session: SessionDep, principal: Actor) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "acknowledge", None)


@router.post(
    "/situations/{situation_id}/contacts",
    **ACTION,
    summary="Consigner un contact",
    description=f"Un contact avec la personne (`met`, `not_found` ou `refused`) ; `met` fait passer une situation "
    f"`new` ou `acknowledged` à `in_progress`. {ACTORS}",
)
def log_contact(
    situation_id: str, body: ContactIn, request: Request, session: SessionDep, principal: Actor
) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "contacts", body)


@router.post(
    "/situations/{situation_id}/resolve",
    **ACTION,
    summary="Résoudre une situation",
    description=f"→ `resolved`, avec son issue (`other` demande une note). {ACTORS}",
)
def resolve(
    situation_id: str, body: ResolveIn, request: Request, session: SessionDep, principal: Actor
) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "resolve", body)


@router.post(
    "/situations/{situation_id}/reopen",
    **ACTION,
    summary="Rouvrir une situation",
    description=f"`resolved` → `in_progress`, avec la raison. {ACTORS}",
)
def reopen(
    situation_id: str, body: ReasonIn, request: Request, session: SessionDep, principal: Actor
) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "reopen", body)


@router.post(
    "/situations/{situation_id}/escalate",
    **ACTION,
    summary="Escalader une situation",
    description=f"Escalade à la main vers la MUS, avec la raison ; une seule fois par situation (sinon 409). {ACTORS}",
)
def escalate(
    situation_id: str, body: ReasonIn, request: Request, session: SessionDep, principal: Actor
) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "escalate", body)


@router.post(
    "/situations/{situation_id}/requalify",
    **ACTION,
    summary="Requalifier une situation",
    description=f"Ajoute ou retire des drapeaux et refait le routage sur les faits de la situation (fiches, "
    f"pilote, partenaires, échéances). {ACTORS}",
)
def requalify(
    situation_id: str, body: RequalifyIn, request: Request, session: SessionDep, principal: Actor
) -> dict[str, Any]:
    return _act(session, request, principal, situation_id, "requalify", body)


@router.post(
    "/situations/{situation_id}/merge",
    **ACTION,
    summary="Fusionner une situation dans une autre",
    description="→ `merged` : ses signalements rejoignent la situation `into`, qui refait son routage. Il faut "
    f"pouvoir agir sur les deux situations. {ACTORS} Situation modifiée en même temps par une autre opération : "
    "409 (réessayer).",
)
def merge(situation_id: str, body: MergeIn, request: Request, session: SessionDep, principal: Actor) -> dict[str, Any]:
    merged = situation_actions.merge(session, principal, situation_id, body.into, client=client_address(request))
    return _answer(session, merged)
