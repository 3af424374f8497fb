"""Accepting a signal: one statement writes the signal and its outbox row and reads the weather plan in force;
directives come back at once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, TextClause, bindparam, func, insert
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import col

from services.core.decisions import DecisionContext
from services.core.errors import Conflict, FieldError, InvalidInput
from services.core.facts import WeatherPlan
from services.core.instants import instant_errors
from services.core.models import FichePublication, IdempotencyKey, Signal, WeatherPlanState
from services.core.models._types import new_id
from services.core.outbox import QUEUE_ROUTING, ROUTE_SIGNAL, enqueue_statement
from services.core.procedures import fiches_in_force
from services.core.routing import route
from services.core.signals.schemas import SignalIn
from services.core.territory import Territory, TerritoryMap

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


SIGNAL_COLUMNS = (
    "id",
    "status",
    "received_at",
    "observed_at",
    "submitted_by",
    "source",
    "lat",
    "lon",
    "postcode",
    "address",
    "given_arrondissement",
    "place",
    "description",
    "people",
    "flags",
)


def _write_statement() -> TextClause:
    """The signal, its outbox row and the relay's wake-up call, in one statement (one round trip), which also
    returns the weather plan in force as that statement starts: the directives follow a plan set or lifted by
    any process the moment it is committed, with no cache to invalidate and no extra trip. Written out once:
    each request only binds its values."""
    columns = ", ".join(SIGNAL_COLUMNS)
    values = ", ".join(f":{name}" for name in SIGNAL_COLUMNS)
    insert_signal = f"INSERT INTO {Signal.__tablename__} ({columns}) VALUES ({values})"
    plan = f"FROM {WeatherPlanState.__tablename__} WHERE id = 1"
    also_select = f"(SELECT kind {plan}) AS plan_kind, (SELECT level {plan}) AS plan_level"
    # The version of the fiches in force, checked for this decision in the same trip (`procedures.py`).
    book = f"(SELECT fingerprint FROM {FichePublication.__tablename__} ORDER BY id DESC LIMIT 1) AS book"
    also_select = f"{also_select}, {book}"
    return enqueue_statement(insert_signal, also_select=also_select).bindparams(
        bindparam("people", type_=JSONB),
        bindparam("flags", type_=ARRAY(Text)),
        bindparam("task", ROUTE_SIGNAL),
        bindparam("queue", QUEUE_ROUTING),
    )


WRITE_SIGNAL = _write_statement()


def _claim_key(connection: Connection, token_id: str, key: str, fingerprint: str) -> dict[str, Any] | None:
    """The stored answer for a key already used with this body; raises if in flight or used with another body."""
    locked = connection.execute(
        sa_select(func.pg_try_advisory_xact_lock(IDEMPOTENCY_LOCK_SPACE, func.hashtext(f"{token_id}:{key}")))
    ).scalar_one()
    if not locked:
        raise Conflict("une requête avec cette Idempotency-Key est en cours de traitement")
    previous = connection.execute(
        sa_select(col(IdempotencyKey.request_hash), col(IdempotencyKey.response)).where(
            col(IdempotencyKey.token_id) == token_id, col(IdempotencyKey.key) == key
        )
    ).first()
    if previous is None:
        return None
    if previous.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            [FieldError("Idempotency-Key", "reused", "clé déjà utilisée avec un autre contenu de requête")]
        )
    return dict(previous.response)


def accept_signal(
    connection: Connection,
    payload: SignalIn,
    *,
    submitted_by: str,
    context: DecisionContext,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> Accepted:
    """Store a signal for routing, in the caller's transaction (a Connection: this is the hot path, and nothing
    here needs the ORM's unit of work). The context's book is the one the caller expects to be in force (the
    last one it used): the statement that writes the signal also reads the version in force, and another book is
    taken when they differ, so the directives always follow the publication in force. Its weather plan is not
    used: the same statement reads the plan in force."""
    now, fiches, territory_map = context.now, context.fiches, context.territory_map
    if idempotency_key is not None:
        stored = _claim_key(connection, submitted_by, idempotency_key, fingerprint or "")
        if stored is not None:
            return Accepted(response=stored, replayed=True)

    observed_at = payload.observed_at or now
    if problems := instant_errors("observed_at", observed_at, now):
        raise InvalidInput(problems)

    where = payload.location
    signal_id = new_id()
    written = connection.execute(
        WRITE_SIGNAL,
        {
            "id": signal_id,
            "status": "received",
            "received_at": now,
            "observed_at": observed_at,
            "submitted_by": submitted_by,
            "source": payload.source,
            "lat": where.lat,
            "lon": where.lon,
            "postcode": where.postcode,
            "address": where.address,
            "given_arrondissement": where.arrondissement,
            "place": payload.place,
            "description": payload.description,
            "people": payload.people.model_dump(),
            "flags": sorted(set(payload.flags)),
            "outbox_payload": {"signal_id": signal_id},
            "created_at": now,
        },
    ).one()
    weather = None if written.plan_kind is None else WeatherPlan(kind=written.plan_kind, level=written.plan_level)
    # `fiches` is the book the caller expects; the statement said which one is in force.
    book = fiches if written.book == fiches.fingerprint else fiches_in_force(connection)
    # Directives never wait for a worker: the same engine, on the same inputs, runs here first.
    decision = route(payload.facts(), book, locate(territory_map, payload), weather)
    response = {
        "id": signal_id,
        "status": "received",
        "directives": list(decision.directives),
        "links": {"self": f"/v1/signals/{signal_id}"},
    }
    if idempotency_key is not None:
        connection.execute(
            insert(IdempotencyKey).values(
                token_id=submitted_by,
                key=idempotency_key,
                request_hash=fingerprint or "",
                signal_id=signal_id,
                response=response,
                created_at=now,
            )
        )
    return Accepted(response=response, replayed=False)
