"""Accepting a signal: one transaction writes the signal and its outbox row; directives come back at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session

from services.core.errors import Conflict, FieldError, InvalidInput
from services.core.facts import WeatherPlan
from services.core.fiches import FicheBook
from services.core.models import IdempotencyKey, Signal
from services.core.models._types import new_id
from services.core.outbox import QUEUE_ROUTING, ROUTE_SIGNAL, enqueue
from services.core.routing import route
from services.core.signals.schemas import SignalIn
from services.core.territory import Territory, TerritoryMap

MAX_FUTURE = timedelta(minutes=10)
# Namespace of the advisory locks that say "this Idempotency-Key is being handled".
IDEMPOTENCY_LOCK_SPACE = 7_310_002


class IdempotencyKeyReused(InvalidInput):
    """The same key came back with another body."""


@dataclass(frozen=True)
class Accepted:
    response: dict[str, Any]
    replayed: bool


def request_fingerprint(body: Any) -> str:
    """The same JSON, whatever its spacing or key order, is the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def locate(territory_map: TerritoryMap, payload: SignalIn) -> Territory:
    where = payload.location
    return territory_map.locate(
        lat=where.lat, lon=where.lon, postcode=where.postcode, arrondissement=where.arrondissement
    )


def _claim_key(session: Session, token_id: str, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The stored answer for a key already used with this body; raises if in flight or used with another body."""
    locked = session.execute(
        sa_select(func.pg_try_advisory_xact_lock(IDEMPOTENCY_LOCK_SPACE, func.hashtext(f"{token_id}:{key}")))
    ).scalar_one()
    if not locked:
        raise Conflict("une requête avec cette Idempotency-Key est en cours de traitement")
    previous = session.get(IdempotencyKey, (token_id, key))
    if previous is None:
        return None
    if previous.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            [FieldError("Idempotency-Key", "reused", "clé déjà utilisée avec un autre contenu de requête")]
        )
    return previous.response


def accept_signal(
    session: Session,
    payload: SignalIn,
    *,
    submitted_by: str,
    now: datetime,
    fiches: FicheBook,
    territory_map: TerritoryMap,
    weather: WeatherPlan | None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Accepted:
    if idempotency_key is not None:
        stored = _claim_key(session, submitted_by, idempotency_key, fingerprint or "")
        if stored is not None:
            return Accepted(response=stored, replayed=True)

    observed_at = payload.observed_at or now
    if observed_at > now + MAX_FUTURE:
        raise InvalidInput(
            [FieldError("observed_at", "not_future", "ne peut dépasser de plus de 10 minutes l'heure de réception")]
        )

    # Directives never wait for a worker: the same engine, on the same inputs, runs here first.
    decision = route(payload.facts(), fiches, locate(territory_map, payload), weather)
    where = payload.location
    signal_id = new_id()
    # A plain INSERT, not the ORM's unit of work: this is the hot path, and nothing here reads the row back.
    session.execute(
        insert(Signal).values(
            id=signal_id,
            status="received",
            received_at=now,
            observed_at=observed_at,
            submitted_by=submitted_by,
            source=payload.source,
            lat=where.lat,
            lon=where.lon,
            postcode=where.postcode,
            address=where.address,
            given_arrondissement=where.arrondissement,
            place=payload.place,
            description=payload.description,
            people=payload.people.model_dump(),
            flags=sorted(set(payload.flags)),
        )
    )
    enqueue(session, task=ROUTE_SIGNAL, queue=QUEUE_ROUTING, payload={"signal_id": signal_id}, now=now)
    response = {
        "id": signal_id,
        "status": "received",
        "directives": list(decision.directives),
        "links": {"self": f"/v1/signals/{signal_id}"},
    }
    if idempotency_key is not None:
        session.add(
            IdempotencyKey(
                token_id=submitted_by,
                key=idempotency_key,
                request_hash=fingerprint or "",
                signal_id=signal_id,
                response=response,
                created_at=now,
            )
        )
        session.flush()
    return Accepted(response=response, replayed=False)
