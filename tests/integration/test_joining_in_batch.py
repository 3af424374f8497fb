"""A sector's signals oriented in one transaction (the worker's batches) decide and write exactly what they
would, oriented one by one in the same order: joins among the batch's own signals, escalations, alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from services.core.clock import utc_now
from services.core.db import get_engine, session_scope
from services.core.decisions import DecisionContext
from services.core.models import Delivery, Event, Signal, Situation, Structure
from services.core.models._types import ids_from
from services.core.procedures import fiches_in_force
from services.core.signals.intake import accept_signal
from services.core.signals.schemas import SignalIn
from services.core.situations.orientation import Waiting, orient_free_signals, orient_signal, orient_signals
from services.core.situations.placement import JOIN_LOCK_SPACE
from services.core.territory import default_map
from tests.integration.test_workflow_helpers import BASE, family, hours_ago, north_of, single_adult

# The batch's signals, in the order they are oriented (their ids are drawn in this order below).
BODIES: list[dict[str, Any]] = [
    single_adult(observed_at=hours_ago(5)),
    single_adult(north_of(BASE, 100), observed_at=hours_ago(3)),  # joins the first; the situation moves north
    single_adult(north_of(BASE, 240), observed_at=hours_ago(2)),  # near the moved situation only: joins, 3rd
    single_adult(north_of(BASE, 500)),  # too far from all: opens
    family(),  # never joins a single adult: opens
    family(north_of(BASE, 20), observed_at=hours_ago(1)),  # joins the family
    single_adult(north_of(BASE, 120), observed_at=hours_ago(80)),  # outside the window of the moved situation
    single_adult({"lat": 45.76, "lon": 4.83}),  # Lyon: out of territory
]


# Beside those of paris-13, signals of other sectors in the same batch: one transaction holds all their join locks.
OTHER_SECTORS = {"lat": 48.892, "lon": 2.348}, {"lat": 48.841, "lon": 2.292}, {"lat": 48.864, "lon": 2.399}
SECTORS_BODIES: list[dict[str, Any]] = [
    *BODIES,
    single_adult(OTHER_SECTORS[0], observed_at=hours_ago(2)),
    single_adult(north_of(OTHER_SECTORS[0], 60), observed_at=hours_ago(1)),  # joins it, in its sector
    family(OTHER_SECTORS[1]),
    single_adult(OTHER_SECTORS[2]),
    family(north_of(OTHER_SECTORS[1], 30)),  # joins the family of its sector
]


def _accept_without_relay(bodies: list[dict[str, Any]] = BODIES) -> list[str]:
    """The signals stored as intake stores them, their outbox rows removed: only this test orients them."""
    fiches, territory_map = fiches_in_force_now(), default_map()
    ids = []
    numbers = iter(range(1, 1000))
    # Ids in the order of BODIES: the batch orients a sector's signals by id.
    with ids_from(lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"), get_engine().begin() as connection:
        for body in bodies:
            accepted = accept_signal(
                connection,
                SignalIn.model_validate(body),
                submitted_by="test",
                context=DecisionContext(utc_now(), fiches, territory_map),
            )
            ids.append(str(accepted.response["id"]))
        connection.execute(text("DELETE FROM outbox"))
    return ids


def fiches_in_force_now() -> Any:
    with session_scope() as session:
        return fiches_in_force(session)


def _reachable_structures() -> None:
    with session_scope() as session:
        for code in ("eps:paris-13", "cavs:sud", "mus", "mairie:paris-13"):
            session.add(Structure(code=code, kind=code.split(":")[0], name=code, active=True, email="a@example.org"))
        session.commit()


def _effect(ids: list[str]) -> dict[str, Any]:
    """What orienting wrote, with the situations' random ids replaced by their order of opening."""
    with session_scope() as session:
        signals = {s.id: s for s in session.exec(select(Signal).where(col(Signal.id).in_(ids)))}
        situations = list(session.exec(select(Situation).order_by(col(Situation.opened_at))))
        events = list(session.exec(select(Event).order_by(col(Event.id))))
        deliveries = list(session.exec(select(Delivery)))
    first_named: dict[str, int] = {}
    for signal_id in ids:
        if (situation_id := signals[signal_id].situation_id) is not None:
            first_named.setdefault(situation_id, len(first_named))
    assert set(first_named) == {s.id for s in situations}

    def plain(row: Any, *drop: str) -> dict[str, Any]:
        values: dict[str, Any] = row.model_dump(exclude={"id", *drop})
        if values.get("situation_id") is not None:
            values["situation_id"] = first_named[values["situation_id"]]
        return values

    return {
        "signals": [plain(signals[signal_id]) for signal_id in ids],
        "situations": sorted((first_named[s.id], plain(s)) for s in situations),
        "events": [plain(e) for e in events],
        # What a delivery is for, not how its sending goes (a relay of another test may be sending it).
        "deliveries": sorted(
            (first_named[str(d.situation_id)], d.kind, d.structure_code, d.channel, d.payload["type"], d.created_at)
            for d in deliveries
        ),
    }


def _forget_orientation(snapshot: list[dict[str, Any]]) -> None:
    with get_engine().begin() as connection:
        connection.execute(text("TRUNCATE situations, events, deliveries, outbox RESTART IDENTITY"))
    with session_scope() as session:
        for values in snapshot:
            signal = session.get(Signal, values["id"])
            assert signal is not None
            for name, value in values.items():
                setattr(signal, name, value)
            session.add(signal)
        session.commit()


def _orient(ids: list[str], *, together: bool, now: Any) -> None:
    with session_scope() as session:
        fiches, territory_map = fiches_in_force(session), default_map()
        if together:
            orient_signals(session, [Waiting(i) for i in ids], context=DecisionContext(now, fiches, territory_map))
            session.commit()
            return
    for signal_id in sorted(ids, key=_orientation_order(ids)):
        with session_scope() as session:
            orient_signal(session, signal_id, context=DecisionContext(now, fiches_in_force(session), territory_map))
            session.commit()


def _orientation_order(ids: list[str]) -> Any:
    """The order a batch orients its signals in: by sector, then id (`orient_signals`)."""
    territory_map = default_map()
    with session_scope() as session:
        sectors = {s.id: territory_map.locate(lat=s.lat, lon=s.lon).sector or "" for s in _signals(session, ids)}
    return lambda signal_id: (sectors[signal_id], signal_id)


def _signals(session: Session, ids: list[str]) -> list[Signal]:
    return list(session.exec(select(Signal).where(col(Signal.id).in_(ids))))


def test_a_batch_writes_what_its_signals_one_by_one_would() -> None:
    _reachable_structures()
    ids = _accept_without_relay()
    with session_scope() as session:
        received = [s.model_dump() for s in _signals(session, ids)]
    now = utc_now() + timedelta(seconds=1)

    _orient(ids, together=True, now=now)
    together = _effect(ids)
    _forget_orientation(received)
    _orient(ids, together=False, now=now)
    one_by_one = _effect(ids)

    assert together == one_by_one
    # The batch did join among its own signals, escalate, and alert: the comparison covers those paths.
    counts = sorted(values["signal_count"] for _, values in together["situations"])
    assert counts == [1, 1, 2, 3], counts
    assert [e["type"] for e in together["events"]].count("escalated") == 1
    assert together["deliveries"], "aucune alerte écrite"
    assert together["signals"][-1]["status"] == "out_of_territory"


def test_a_batch_over_several_sectors_writes_what_one_by_one_would() -> None:
    _reachable_structures()
    ids = _accept_without_relay(SECTORS_BODIES)
    with session_scope() as session:
        received = [s.model_dump() for s in _signals(session, ids)]
        sectors = {default_map().locate(lat=s.lat, lon=s.lon).sector for s in _signals(session, ids)}
    assert len(sectors - {None}) >= 3, sectors
    now = utc_now() + timedelta(seconds=1)

    _orient(ids, together=True, now=now)
    together = _effect(ids)
    _forget_orientation(received)
    _orient(ids, together=False, now=now)

    assert together == _effect(ids)
    counts = sorted(values["signal_count"] for _, values in together["situations"])
    assert counts == [1, 1, 1, 2, 2, 2, 3], counts


def test_a_sector_locked_elsewhere_is_left_for_later_without_waiting() -> None:
    """A batch never waits for a sector's join lock while it holds others: the signals of a busy sector are left
    received, their outbox rows unfinished, and handed back; the others are oriented at once."""
    ids = _accept_without_relay(SECTORS_BODIES)
    territory_map = default_map()
    with session_scope() as session:
        sector_of = {s.id: territory_map.locate(lat=s.lat, lon=s.lon).sector for s in _signals(session, ids)}
    busy = sector_of[ids[0]]
    assert busy is not None
    waiting = [Waiting(signal_id, outbox_id=1000 + n) for n, signal_id in enumerate(ids)]
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (id, task, queue, payload, created_at, publish_count) SELECT"
                " 1000 + n, 'urgence.route_signal', 'routing', '{}', now(), 1"
                " FROM generate_series(0, :last) AS n"
            ),
            {"last": len(ids) - 1},
        )
    with get_engine().connect() as holder:
        holder.execute(
            text("SELECT pg_advisory_lock(:space, hashtext(:sector))"), {"space": JOIN_LOCK_SPACE, "sector": busy}
        )
        try:
            with session_scope() as session:
                left = orient_free_signals(
                    session, waiting, context=DecisionContext(utc_now(), fiches_in_force(session), territory_map)
                )
                session.commit()
        finally:
            holder.execute(
                text("SELECT pg_advisory_unlock(:space, hashtext(:sector))"), {"space": JOIN_LOCK_SPACE, "sector": busy}
            )
            holder.commit()
    expected_left = [w for w in waiting if sector_of[w.signal_id] == busy]
    assert left == [expected_left]
    with session_scope() as session:
        status = {s.id: s.status for s in _signals(session, ids)}
        unfinished = set(session.connection().execute(text("SELECT id FROM outbox WHERE done_at IS NULL")).scalars())
    for item in waiting:
        if sector_of[item.signal_id] == busy:
            assert status[item.signal_id] == "received" and item.outbox_id in unfinished
        else:
            assert status[item.signal_id] != "received" and item.outbox_id not in unfinished
