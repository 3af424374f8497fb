"""Signals: intake (`POST /v1/signals`), reading one back, and the MUS's out-of-territory list and attribution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.conflicts import deadlock_is_a_conflict
from services.api.deps import SessionDep, client_address, require_roles
from services.api.intake import IDEMPOTENCY_KEY_RULE, accept, checked_key
from services.api.openapi import problems
from services.api.schemas.signals import SignalOut, SignalPage
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.access.policy import (
    can_see_signal,
    check_oversight,
    check_signal_assigner,
    may_read_signal_personal_data,
)
from services.core.clock import utc_now
from services.core.decisions import in_force
from services.core.errors import Forbidden, NotFound
from services.core.models import Signal, Situation
from services.core.paging import DEFAULT_PAGE, MAX_PAGE
from services.core.signals.schemas import SignalAccepted, SignalIn
from services.core.signals.views import list_out_of_territory, signal_view
from services.core.situations.orientation import assign_signal

router = APIRouter(prefix="/v1/signals", tags=["signalements"])
READERS = require_roles("outreach", "coordinator", "admin")


@router.post(
    "",
    status_code=202,
    response_model=SignalAccepted,
    summary="Recevoir un signalement",
    description="Maraudes, coordinateurs et administrateurs. Les consignes immédiates (`directives`) sont "
    "calculées avant la réponse ; le routage (pilote, partenaires, échéances) suit en quelques instants, à relire "
    "par `GET /v1/signals/{id}`. Avec `Idempotency-Key`, la même clé et le même corps rendent la première réponse "
    "sans rien créer ; la même clé avec un autre corps : 422 ; pendant que la première requête est en cours : 409.",
    response_description="Signalement accepté (en-tête `Location` : son adresse)",
    responses={
        202: {"headers": {"Location": {"description": "Adresse du signalement", "schema": {"type": "string"}}}},
        **problems(409),
    },
)
async def submit_signal(
    payload: SignalIn,
    principal: Annotated[Principal, Depends(READERS)],
    idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_RULE)] = None,
) -> JSONResponse:
    accepted = await accept(payload, principal.id, checked_key(idempotency_key))
    return JSONResponse(accepted.response, status_code=202, headers={"Location": accepted.response["links"]["self"]})


class AssignIn(BaseModel):
    """L'arrondissement où placer un signalement localisé à tort hors territoire."""

    model_config = ConfigDict(extra="forbid")
    arrondissement: Annotated[int, Field(ge=1, le=20, strict=True, description="Arrondissement de Paris, 1 à 20")]


COORDINATION = require_roles("coordinator", "admin")


@router.get(
    "",
    response_model=SignalPage,
    response_model_exclude_unset=True,
    summary="Signalements hors territoire",
    description="Les signalements localisés hors de Paris, du plus récent au plus ancien, sans données "
    "personnelles (la lecture d'un signalement les donne, tracée). Mission Urgence Sociale et administrateurs. "
    "Paginé : `limit` (50 par défaut, 500 au plus) et `cursor` (le `next_cursor` de la page précédente).",
    response_description="Une page de signalements hors territoire",
)
def list_signals(
    session: SessionDep,
    principal: Annotated[Principal, Depends(COORDINATION)],
    status: Annotated[Literal["out_of_territory"], Query(description="seul out_of_territory est proposé")],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"au plus {MAX_PAGE}")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="Le `next_cursor` de la page précédente")] = None,
) -> dict[str, Any]:
    check_oversight(principal)
    return list_out_of_territory(session, limit=limit, cursor=cursor)


@router.post(
    "/{signal_id}/assign",
    response_model=SignalOut,
    summary="Attribuer un signalement hors territoire à un arrondissement",
    description="La Mission Urgence Sociale place dans un arrondissement de Paris un signalement localisé à tort "
    "hors territoire : il est routé à nouveau comme s'il y était (il ouvre ou rejoint une situation, une seule "
    "fois), et l'attribution figure dans l'historique de la situation et dans le journal d'audit. Répéter la même "
    "attribution ne change rien ; 409 si le signalement n'est pas (ou plus) hors territoire.",
    response_description="Le signalement, routé à nouveau",
    responses=problems(404, 409),
)
def assign(
    signal_id: str,
    body: AssignIn,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(COORDINATION)],
) -> dict[str, Any]:
    check_signal_assigner(principal)
    now = utc_now()
    with deadlock_is_a_conflict():
        outcome = assign_signal(
            session,
            signal_id,
            body.arrondissement,
            actor=principal.actor,
            context=in_force(session, now),
        )
        signal = session.get(Signal, signal_id)
        assert signal is not None
        # A repeated attribution changed nothing: what happened is a read of the signal.
        action = "signal.read" if outcome.replayed else "signal.assign"
        audit(
            session,
            principal,
            action,
            now=now,
            client=client_address(request),
            signal_id=signal.id,
            situation_id=signal.situation_id,
            detail={"arrondissement": body.arrondissement},
        )
        session.commit()
    return signal_view(signal, personal=True)


@router.get(
    "/{signal_id}",
    response_model=SignalOut,
    response_model_exclude_unset=True,
    summary="Lire un signalement",
    description="Le signalement, son statut et sa propre décision de routage. Maraudes : ceux qu'elles ont "
    "émis ; coordinateurs : ceux des situations de leurs pilotes ; MUS et administrateurs : tous. La localisation "
    "précise, le lieu et la description ne sont montrés qu'aux pilotes concernés, à la MUS et à l'émetteur, et "
    "chaque lecture est tracée dans le journal d'audit.",
    response_description="Le signalement",
    responses=problems(404),
)
def read_signal(
    signal_id: str, request: Request, session: SessionDep, principal: Annotated[Principal, Depends(READERS)]
) -> dict[str, Any]:
    signal = session.get(Signal, signal_id)
    situation = session.get(Situation, signal.situation_id) if signal and signal.situation_id else None
    if signal is None:
        raise NotFound("signalement introuvable")
    if not can_see_signal(principal, signal, situation):
        raise Forbidden("ce signalement n'est pas dans votre périmètre (le vôtre, ou ceux de vos pilotes)")
    personal = may_read_signal_personal_data(principal, signal, situation)
    if personal:
        audit(
            session,
            principal,
            "signal.read",
            now=utc_now(),
            client=client_address(request),
            signal_id=signal.id,
            situation_id=signal.situation_id,
        )
        session.commit()
    return signal_view(signal, personal=personal)
