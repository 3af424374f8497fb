"""Orienting a stored signal: the routing engine's decision (`core/routing.py`) applied to a received signal,
which then joins or opens its situation (`placement.py`). The body of the `urgence.route_signal` task, idempotent
on the signal id; and orienting again one the MUS places in an arrondissement.

Words kept apart: the *routing engine* decides (`routing.route` → `Decision`, pure); *orienting* a stored signal
is this module (database, locks, situation); *routes* are the API's HTTP paths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.decisions import DecisionContext
from services.core.errors import Conflict, FieldError, InvalidInput, NotFound
from services.core.facts import WeatherPlan, facts_from_json
from services.core.fiches import FicheBook
from services.core.logs import correlated
from services.core.models import Signal, Situation, WeatherPlanState
from services.core.outbox import mark_all_done
from services.core.procedures import LATEST_FINGERPRINT, book_in_force
from services.core.routing import Decision, route
from services.core.situations.placement import (
    JoinCandidates,
    join_candidates,
    place_signal,
    sighting_of_signal,
    take_free_join_locks,
)
from services.core.situations.timeline import record
from services.core.territory import Territory


@dataclass(frozen=True)
class Orientation:
    signal_id: str
    status: str
    situation_id: str | None
    replayed: bool  # the signal had already been routed: nothing changed


def orient_signal(
    session: Session,
    signal_id: str,
    *,
    context: DecisionContext,
    outbox_id: int | None = None,
) -> Orientation | None:
    """Orient one signal exactly once in effect: the row lock serializes deliveries, the status makes replays
    no-ops. None when the signal does not exist (nothing to do)."""
    (outcome,) = orient_signals(session, [Waiting(signal_id, outbox_id)], context=context)
    return outcome


@dataclass(frozen=True)
class Waiting:
    """A signal to orient, as its outbox row names it (and the id of the request that wrote the row)."""

    signal_id: str
    outbox_id: int | None = None
    correlation_id: str | None = None


def orient_signals(
    session: Session, waiting: Sequence[Waiting], *, context: DecisionContext
) -> list[Orientation | None]:
    """Orient several signals in the caller's transaction, each exactly once in effect (as `orient_signal`), one
    outcome per item in order. The signals are locked in one statement, their sectors' join locks taken in
    another (in sector order: two batches never wait on each other in a cycle), their candidate situations read
    in a third, their outbox rows finished in a fourth. Each is oriented under its request's correlation id."""
    outcomes, _ = _orient_all(session, waiting, context, wait=True)
    return outcomes


def orient_free_signals(
    session: Session, waiting: Sequence[Waiting], *, context: DecisionContext
) -> list[list[Waiting]]:
    """As `orient_signals`, but only the signals whose sectors' join locks are free at once: the others are left
    as they are (received, their outbox rows unfinished) and returned, sector by sector, for transactions of
    their own. A transaction that waited for one sector while holding others would hold them for as long as it
    waits: under load, workers' batches then queue behind one another sector after sector (a convoy), and the
    wait feeds itself (slower batches, bigger batches, more sectors each)."""
    _, left = _orient_all(session, waiting, context, wait=False)
    return left


def _orient_all(
    session: Session, waiting: Sequence[Waiting], context: DecisionContext, *, wait: bool
) -> tuple[list[Orientation | None], list[list[Waiting]]]:
    now, territory_map = context.now, context.territory_map
    found = _locked_with_plan(session, [item.signal_id for item in waiting], context.fiches)
    fiches = found.fiches
    outcomes: dict[str, Orientation] = {}
    todo: dict[str, tuple[Signal, Territory, Waiting]] = {}  # a signal named twice is oriented once
    for item in waiting:
        signal = found.signals.get(item.signal_id)
        if signal is None or item.signal_id in outcomes or item.signal_id in todo:
            continue
        if signal.status != "received":
            outcomes[signal.id] = Orientation(signal.id, signal.status, signal.situation_id, replayed=True)
            continue
        territory = territory_map.locate(
            lat=signal.lat, lon=signal.lon, postcode=signal.postcode, arrondissement=signal.given_arrondissement
        )
        todo[signal.id] = (signal, territory, item)
    planned = sorted(todo.values(), key=lambda t: (t[1].sector or "", t[0].id))
    left: dict[str, list[Waiting]] = {}
    if not wait:
        sectors = {territory.sector for _, territory, _ in planned if territory.in_paris and territory.sector}
        free = take_free_join_locks(session, sorted(s for s in sectors if s is not None))
        for signal, territory, _ in planned:
            if territory.in_paris and territory.sector is not None and territory.sector not in free:
                left.setdefault(territory.sector, []).append(todo.pop(signal.id)[2])
        planned = [entry for entry in planned if entry[0].id in todo]
    decisions: dict[str, Decision] = {}
    for signal, territory, item in planned:
        with correlated(item.correlation_id):
            decisions[signal.id] = _decide(signal, territory, found.weather, fiches)
    # The candidate situations of every sector, locked and read once for all the signals, before any is placed.
    candidates = join_candidates(
        session,
        [
            sighting_of_signal(signal, decisions[signal.id], territory)
            for signal, territory, _ in planned
            if territory.in_paris and territory.sector is not None
        ],
    )
    for signal, territory, item in planned:
        with correlated(item.correlation_id):
            _orient_in(
                session, signal, territory, decisions[signal.id], fiches, now, candidates.get(territory.sector or "")
            )
        outcomes[signal.id] = Orientation(signal.id, signal.status, signal.situation_id, replayed=False)
    not_yet = {item.signal_id for items in left.values() for item in items}
    done = [item.outbox_id for item in waiting if item.outbox_id is not None and item.signal_id not in not_yet]
    mark_all_done(session, done, now)
    session.flush()
    return [outcomes.get(item.signal_id) for item in waiting], [left[sector] for sector in sorted(left)]


@dataclass(frozen=True)
class _Locked:
    signals: dict[str, Signal]
    weather: WeatherPlan | None
    fiches: FicheBook  # the book in force


def _locked_with_plan(session: Session, signal_ids: Sequence[str], expected: FicheBook) -> _Locked:
    """The signals, locked (in id order), the weather plan in force and the book in force (`expected` unless the
    fingerprint read says another), in one round trip."""
    rows = session.execute(
        select(Signal, col(WeatherPlanState.kind), col(WeatherPlanState.level), LATEST_FINGERPRINT)
        .outerjoin(WeatherPlanState, col(WeatherPlanState.id) == 1)
        .where(col(Signal.id).in_(sorted(set(signal_ids))))
        .order_by(col(Signal.id))
        .with_for_update(of=Signal)
    ).all()
    weather = None if not rows or rows[0][1] is None else WeatherPlan(kind=rows[0][1], level=rows[0][2])
    fiches = book_in_force(session, expected, rows[0][3] if rows else expected.fingerprint)
    return _Locked({row[0].id: row[0] for row in rows}, weather, fiches)


def _decide(signal: Signal, territory: Territory, weather: WeatherPlan | None, fiches: FicheBook) -> Decision:
    return route(facts_from_json({"people": signal.people, "flags": signal.flags}), fiches, territory, weather)


def _orient_in(
    session: Session,
    signal: Signal,
    territory: Territory,
    decision: Decision,
    fiches: FicheBook,
    now: datetime,
    candidates: JoinCandidates | None = None,
) -> Situation | None:
    """Apply the decision for the signal as located in `territory`; in Paris it opens or joins its situation
    (None outside). Rows are written at the next flush: the transaction's signals together (one UPDATE of the
    signals' rows, one INSERT of the new situations, one of the events)."""
    situation = None
    if territory.in_paris:
        situation = place_signal(session, signal, decision, territory, fiches, now, candidates)
        signal.status = "routed"
        signal.arrondissement = territory.arrondissement
        signal.sector = territory.sector
        signal.situation_id = situation.id
    else:
        signal.status = "out_of_territory"
    signal.decision = decision.to_json()
    signal.routed_at = now
    signal.routing_error = None
    session.add(signal)
    return situation


def assigned_note(arrondissement: int) -> str:
    """Recorded in the decision's notes of a signal placed by the MUS: where it was placed, and that it was."""
    return f"assigned_arrondissement:{arrondissement}"


def assign_signal(
    session: Session,
    signal_id: str,
    arrondissement: int,
    *,
    actor: str,
    context: DecisionContext,
) -> Orientation:
    """Orient an out-of-territory signal again as if located in `arrondissement` (the MUS found it misplaced):
    the worker's own path, so it opens or joins a situation exactly once. Assigning it again to the same
    arrondissement changes nothing (replayed); any other signal is a conflict."""
    now, fiches, territory_map = context.now, context.fiches, context.territory_map
    if not 1 <= arrondissement <= 20:
        raise InvalidInput([FieldError("arrondissement", "range", "un arrondissement de Paris, de 1 à 20")])
    found = _locked_with_plan(session, [signal_id], fiches)
    signal = found.signals.get(signal_id)
    if signal is None:
        raise NotFound("signalement introuvable")
    weather = found.weather
    note = assigned_note(arrondissement)
    if signal.status == "routed" and note in (signal.decision or {}).get("notes", ()):
        return Orientation(signal.id, signal.status, signal.situation_id, replayed=True)
    if signal.status != "out_of_territory":
        raise Conflict(f"seul un signalement hors territoire peut être attribué (statut : {signal.status})")
    located = territory_map.locate(arrondissement=arrondissement)
    territory = replace(located, notes=(*located.notes, note))
    situation = _orient_in(session, signal, territory, _decide(signal, territory, weather, fiches), fiches, now)
    assert situation is not None
    record(
        session,
        situation,
        type="signal_assigned",
        actor=actor,
        now=now,
        data={"signal_id": signal.id, "arrondissement": arrondissement, "from": "out_of_territory"},
    )
    session.flush()
    return Orientation(signal.id, signal.status, signal.situation_id, replayed=False)


def flag_orientation_failure(session: Session, signal_id: str, error: str) -> None:
    """Orienting keeps failing: say so on the signal (`routing_error`; it stays `received`, visible to people),
    never drop it. A plain UPDATE by id, never loading the row: the signal may be one the ORM cannot read (that
    may be why orienting failed)."""
    session.connection().execute(
        update(Signal)
        .where(col(Signal.id) == signal_id, col(Signal.status) == "received")
        .values(routing_error=error[:2000])
    )
