"""Signals: intake (`POST /v1/signals`) and reading one back."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from services.api.deps import SessionDep, client_address, require_roles
from services.api.metrics import count_accepted
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.access.policy import can_see_signal, may_read_personal_data
from services.core.clock import utc_now
from services.core.db import get_engine
from services.core.errors import FieldError, Forbidden, InvalidInput, NotFound
from services.core.models import Signal, Situation
from services.core.procedures import active_fiches
from services.core.settings import get_settings
from services.core.signals.intake import Accepted, accept_signal, request_fingerprint
from services.core.signals.schemas import SignalAccepted, SignalIn
from services.core.signals.views import signal_view
from services.core.territory import default_map
from services.core.weather import RecentPlan

router = APIRouter(prefix="/v1/signals", tags=["signalements"])
IDEMPOTENCY_KEY_RULE = "1 à 255 caractères ASCII imprimables"


def _checked_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not all(" " <= ch <= "~" for ch in value):
        raise InvalidInput([FieldError("Idempotency-Key", "format", IDEMPOTENCY_KEY_RULE)])
    return value


READERS = require_roles("outreach", "coordinator", "admin")
RECENT_PLAN = RecentPlan()


@router.post("", status_code=202, response_model=SignalAccepted)
async def submit_signal(
    payload: SignalIn,
    principal: Annotated[Principal, Depends(READERS)],
    idempotency_key: Annotated[str | None, Header(description=IDEMPOTENCY_KEY_RULE)] = None,
) -> JSONResponse:
    key = _checked_key(idempotency_key)
    # The validated payload is the request's meaning: spacing, key order or defaults do not make it another one.
    fingerprint = request_fingerprint(payload.model_dump(mode="json")) if key is not None else None
    # The hot path: one trip to a writer thread for the database, none for the rest.
    loop = asyncio.get_running_loop()
    # In a copy of this request's context: the outbox row gets its correlation id (`logs.py`).
    context = contextvars.copy_context()
    accepted = await loop.run_in_executor(_writers(), context.run, _accept, payload, principal.id, key, fingerprint)
    if not accepted.replayed:
        count_accepted(payload.source)
    return JSONResponse(accepted.response, status_code=202, headers={"Location": accepted.response["links"]["self"]})


@cache
def _writers() -> ThreadPoolExecutor:
    """Threads that write signals, as many as the pool has connections: none waits for one. (asyncio's executor
    rather than the framework's generic thread pool: lighter, and this runs on every signal.)"""
    return ThreadPoolExecutor(max_workers=get_settings().db_pool_size, thread_name_prefix="intake")


def _accept(payload: SignalIn, submitted_by: str, key: str | None, fingerprint: str | None) -> Accepted:
    with get_engine().begin() as connection:  # committed on leaving: the relay, woken by it, routes the signal
        return accept_signal(
            connection,
            payload,
            submitted_by=submitted_by,
            now=utc_now(),
            fiches=active_fiches(),
            territory_map=default_map(),
            weather=RECENT_PLAN.get(connection),
            idempotency_key=key,
            fingerprint=fingerprint,
        )


@router.get("/{signal_id}")
def read_signal(
    signal_id: str, request: Request, session: SessionDep, principal: Annotated[Principal, Depends(READERS)]
) -> dict[str, Any]:
    signal = session.get(Signal, signal_id)
    situation = session.get(Situation, signal.situation_id) if signal and signal.situation_id else None
    if signal is None:
        raise NotFound("signalement introuvable")
    if not can_see_signal(principal, signal, situation):
        raise Forbidden("ce signalement n'est pas dans votre périmètre (le vôtre, ou ceux de vos pilotes)")
    personal = may_read_personal_data(principal, situation, submitted_by=signal.submitted_by)
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
