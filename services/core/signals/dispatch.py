"""Routing a stored signal: the body of the `route_signal` task, idempotent on the signal id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.facts import WeatherPlan, facts_from_json
from services.core.fiches import FicheBook
from services.core.models import Signal, WeatherPlanState
from services.core.outbox import mark_done
from services.core.routing import route
from services.core.situations.placement import place_signal
from services.core.territory import TerritoryMap


@dataclass(frozen=True)
class RoutingOutcome:
    signal_id: str
    status: str
    situation_id: str | None
    replayed: bool  # the signal had already been routed: nothing changed


def route_signal(
    session: Session,
    signal_id: str,
    *,
    now: datetime,
    fiches: FicheBook,
    territory_map: TerritoryMap,
    outbox_id: int | None = None,
) -> RoutingOutcome | None:
    """Route one signal exactly once in effect: the row lock serializes deliveries, the status makes replays
    no-ops. None when the signal does not exist (nothing to do)."""
    # The signal, locked, and the weather plan in force, in one round trip.
    found = session.execute(
        select(Signal, col(WeatherPlanState.kind), col(WeatherPlanState.level))
        .outerjoin(WeatherPlanState, col(WeatherPlanState.id) == 1)
        .where(col(Signal.id) == signal_id)
        .with_for_update(of=Signal)
    ).first()
    if found is None:
        mark_done(session, outbox_id, now)
        return None
    signal, plan_kind, plan_level = found
    if signal.status != "received":
        mark_done(session, outbox_id, now)
        return RoutingOutcome(signal.id, signal.status, signal.situation_id, replayed=True)

    territory = territory_map.locate(
        lat=signal.lat, lon=signal.lon, postcode=signal.postcode, arrondissement=signal.given_arrondissement
    )
    decision = route(
        facts_from_json({"people": signal.people, "flags": signal.flags}),
        fiches,
        territory,
        None if plan_kind is None else WeatherPlan(kind=plan_kind, level=plan_level),
    )
    signal.decision = decision.to_json()
    signal.routed_at = now
    signal.routing_error = None
    if territory.in_paris:
        situation = place_signal(session, signal, decision, territory, fiches, now)
        signal.status = "routed"
        signal.arrondissement = territory.arrondissement
        signal.sector = territory.sector
        signal.situation_id = situation.id
    else:
        signal.status = "out_of_territory"
    session.add(signal)
    mark_done(session, outbox_id, now)
    session.flush()
    return RoutingOutcome(signal.id, signal.status, signal.situation_id, replayed=False)


def flag_routing_failure(session: Session, signal_id: str, error: str) -> None:
    """Routing keeps failing: say so on the signal (it stays `received`, visible to people), never drop it. A
    plain UPDATE by id, never loading the row: the signal may be one the ORM cannot read (that may be why
    routing failed)."""
    session.connection().execute(
        update(Signal)
        .where(col(Signal.id) == signal_id, col(Signal.status) == "received")
        .values(routing_error=error[:2000])
    )
