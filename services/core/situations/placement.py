"""A routed signal opens a situation or joins the open one it is about (reference: "One situation, several
signals"). Runs inside the routing task's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlmodel import Session, col, select

from services.core.alerts.notify import lead_and_partners, notify
from services.core.db import transaction_memo
from services.core.deadlines import Deadlines, after, tightest
from services.core.facts import combine_facts, facts_from_json, facts_to_json
from services.core.fiches import FicheBook
from services.core.models import Signal, Situation
from services.core.models._types import new_id
from services.core.routing import Decision, resolve_lead
from services.core.situations.escalation import escalate
from services.core.situations.joining import JOIN_WINDOW, Sighting, same_household, search_box, tighten
from services.core.situations.requalification import record_requalified
from services.core.situations.status import OPEN_STATUSES
from services.core.situations.timeline import SYSTEM_ACTOR, deadlines_data, record
from services.core.territory import Territory

# One routing at a time per sector decides joins, so two reports of one family routed at once by two workers
# cannot open two situations.
JOIN_LOCK_SPACE = 7_310_003
REPEATED_SIGNALS_THRESHOLD = 3


def sighting_of_signal(signal: Signal, decision: Decision, territory: Territory) -> Sighting:
    """The signal as the join rule compares it, once routed in `territory` (in Paris)."""
    assert territory.sector is not None
    return Sighting(
        sector=territory.sector,
        observed_at=signal.observed_at,
        lat=signal.lat,
        lon=signal.lon,
        primary_fiche=decision.primary_fiche,
        facts=facts_from_json({"people": signal.people, "flags": signal.flags}),
    )


def _sighting_of_situation(situation: Situation) -> Sighting:
    return Sighting(
        sector=situation.sector,
        observed_at=situation.last_observed_at,
        lat=situation.last_lat,
        lon=situation.last_lon,
        primary_fiche=situation.primary_fiche,
        facts=facts_from_json(situation.facts),
    )


class JoinCandidates:
    """The open situations of one sector that a transaction's signals may join: locked and read in one
    statement for all of them, then kept current in memory as those signals open and join situations (the
    database, asked again for each signal, would answer the same from what this transaction wrote)."""

    def __init__(self, situations: Sequence[Situation]) -> None:
        self._situations = list(situations)

    def joinable(self, sighting: Sighting) -> Situation | None:
        """The open situation this sighting is about, the most recently updated among several (then by id)."""
        matching = [
            situation
            for situation in self._situations
            if situation.status in OPEN_STATUSES and same_household(sighting, _sighting_of_situation(situation))
        ]
        if not matching:
            return None
        matching.sort(key=lambda situation: situation.id)
        return max(matching, key=lambda situation: situation.updated_at)  # the first of the latest: stable

    def opened(self, situation: Situation) -> None:
        self._situations.append(situation)


# Each sighting's filter (`_windows`): the situations that can match it — of its sector, seen within the window,
# and near enough (a box a little larger than the distance) or of the same fiche when a side has no coordinates.
# The database keeps those; `same_household` then applies the exact rule. One statement for any number of
# sightings in any number of sectors, built once: its construction and cache key would otherwise cost more than
# its round trip.
_CANDIDATES = (
    select(Situation)
    .where(
        col(Situation.sector) == func.any(bindparam("sectors")),
        col(Situation.status).in_(OPEN_STATUSES),
        text(
            """EXISTS (
            SELECT 1 FROM unnest(CAST(:sector AS text[]), CAST(:since AS timestamptz[]), CAST(:until AS timestamptz[]),
                                 CAST(:lat_min AS float8[]), CAST(:lat_max AS float8[]),
                                 CAST(:lon_min AS float8[]), CAST(:lon_max AS float8[]), CAST(:fiche AS text[]))
                AS w(sector, since, until, lat_min, lat_max, lon_min, lon_max, fiche)
            WHERE situations.sector = w.sector
              AND situations.last_observed_at >= w.since AND situations.last_observed_at <= w.until
              AND CASE WHEN w.lat_min IS NULL THEN situations.primary_fiche = w.fiche
                       ELSE (situations.last_lat BETWEEN w.lat_min AND w.lat_max
                             AND situations.last_lon BETWEEN w.lon_min AND w.lon_max)
                            OR (situations.last_lat IS NULL AND situations.primary_fiche = w.fiche) END)"""
        ),
    )
    .order_by(col(Situation.updated_at).desc(), col(Situation.id))
    .with_for_update()
)
# The sectors' join locks, taken in the order given (sorted: two transactions never wait on each other in a
# cycle), in one statement.
_JOIN_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:space, hashtext(sector)) FROM unnest(CAST(:sectors AS text[])) AS sector"
)


def _windows(sightings: Sequence[Sighting]) -> dict[str, list[Any]]:
    """The sightings' filters as the columns of `_CANDIDATES`'s `unnest`."""
    columns: dict[str, list[Any]] = {
        name: [] for name in ("since", "until", "lat_min", "lat_max", "lon_min", "lon_max")
    }
    for sighting in sightings:
        columns["since"].append(sighting.observed_at - JOIN_WINDOW)
        columns["until"].append(sighting.observed_at + JOIN_WINDOW)
        box: tuple[float | None, ...] = (None,) * 4
        if sighting.lat is not None and sighting.lon is not None:
            box = search_box(sighting.lat, sighting.lon)
        for name, value in zip(("lat_min", "lat_max", "lon_min", "lon_max"), box, strict=True):
            columns[name].append(value)
    return {
        **columns,
        "sector": [sighting.sector for sighting in sightings],
        "fiche": [sighting.primary_fiche for sighting in sightings],
    }


_FREE_JOIN_LOCKS = text(
    "SELECT sector FROM unnest(CAST(:sectors AS text[])) AS sector"
    " WHERE pg_try_advisory_xact_lock(:space, hashtext(sector))"
)


def take_free_join_locks(session: Session, sectors: Sequence[str]) -> set[str]:
    """Of these sectors, those whose join lock is free: taken now, for the rest of the transaction, in one
    statement that never waits (the others' are held by another transaction)."""
    locked: set[str] = transaction_memo(session).setdefault("join_locks", set())
    wanted = [sector for sector in sectors if sector not in locked]
    if wanted:
        rows = session.connection().execute(_FREE_JOIN_LOCKS, {"space": JOIN_LOCK_SPACE, "sectors": wanted})
        locked.update(row[0] for row in rows)
    return locked & set(sectors)


def join_candidates(session: Session, sightings: Sequence[Sighting]) -> dict[str, JoinCandidates]:
    """For each sector of these sightings, the open situations they may join, read and locked under the sectors'
    join locks: the locks in one statement (those this transaction does not hold yet, in sector order), the
    situations in another, whatever the number of sectors."""
    sectors = sorted({sighting.sector for sighting in sightings})
    locked: set[str] = transaction_memo(session).setdefault("join_locks", set())
    to_lock = [sector for sector in sectors if sector not in locked]
    if to_lock:  # held until the transaction ends: once per sector is enough
        session.connection().execute(_JOIN_LOCKS, {"space": JOIN_LOCK_SPACE, "sectors": to_lock})
        locked.update(to_lock)
    found: dict[str, list[Situation]] = {sector: [] for sector in sectors}
    if sectors:
        for situation in session.exec(_CANDIDATES, params={"sectors": sectors, **_windows(sightings)}).all():
            found[situation.sector].append(situation)
    return {sector: JoinCandidates(situations) for sector, situations in found.items()}


def _open(
    session: Session, signal: Signal, decision: Decision, territory: Territory, fiches: FicheBook, now: datetime
) -> Situation:
    assert decision.deadlines is not None and decision.lead is not None
    assert territory.arrondissement is not None and territory.sector is not None
    due = after(decision.deadlines, signal.received_at)
    situation = Situation(
        # Given, not left to the model's default factories: pydantic inspects a factory's signature at each call.
        id=new_id(),
        escalation_reasons=[],
        opened_at=now,
        opening_received_at=signal.received_at,
        updated_at=now,
        arrondissement=territory.arrondissement,
        sector=territory.sector,
        lead=decision.lead,
        primary_fiche=decision.primary_fiche,
        decision=decision.to_json(),
        facts={"people": signal.people, "flags": list(signal.flags)},
        ack_due=due.ack,
        contact_due=due.contact,
        resolve_due=due.resolve,
        signal_count=1,
        last_observed_at=signal.observed_at,
        last_lat=signal.lat,
        last_lon=signal.lon,
    )
    event = record(
        session,
        situation,
        type="opened",
        actor=SYSTEM_ACTOR,
        now=now,
        data={
            "signal_id": signal.id,
            "primary_fiche": decision.primary_fiche,
            "lead": decision.lead,
            "fiches": [f"{f.code}@{f.version}" for f in decision.fiches],
            "deadlines": deadlines_data(situation),
        },
    )
    notify(session, situation, event, lead_and_partners(situation), now=now, fiches=fiches)
    return situation


def follow_primary(
    session: Session,
    situation: Situation,
    combined: Decision,
    *,
    actor: str,
    now: datetime,
    cause: dict[str, Any],
    fiches: FicheBook,
) -> None:
    """When a combined decision (a join, a merge, made with `fiches`) changes the primary fiche, the lead follows
    it: the situation is requalified (event) and a new lead is alerted."""
    if combined.primary_fiche == situation.primary_fiche:
        return
    before = {"primary_fiche": situation.primary_fiche, "lead": situation.lead}
    assert combined.lead is not None
    situation.primary_fiche, situation.lead = combined.primary_fiche, combined.lead
    after = {"primary_fiche": combined.primary_fiche, "lead": combined.lead}
    record_requalified(session, situation, before=before, after=after, data=cause, actor=actor, now=now, fiches=fiches)


def _join(
    session: Session,
    situation: Situation,
    signal: Signal,
    decision: Decision,
    territory: Territory,
    fiches: FicheBook,
    now: datetime,
) -> Situation:
    assert decision.deadlines is not None
    before = Decision.from_json(situation.decision)
    combined = tighten(
        before,
        decision,
        precedence=fiches.precedence,
        lead_for=lambda code: resolve_lead(fiches.fiche(code).lead, territory),
    )
    received = signal.received_at
    current = Deadlines(situation.ack_due, situation.contact_due, situation.resolve_due)
    situation.ack_due, situation.contact_due, situation.resolve_due = tightest(
        current, after(decision.deadlines, received)
    )
    situation.decision = combined.to_json()
    merged_facts = combine_facts(
        facts_from_json(situation.facts), facts_from_json({"people": signal.people, "flags": signal.flags})
    )
    situation.facts = facts_to_json(merged_facts)
    situation.signal_count += 1
    if signal.observed_at >= situation.last_observed_at:
        situation.last_observed_at = signal.observed_at
        if signal.lat is not None:
            situation.last_lat, situation.last_lon = signal.lat, signal.lon
    record(
        session,
        situation,
        type="signal_joined",
        actor=SYSTEM_ACTOR,
        now=now,
        data={"signal_id": signal.id, "deadlines": deadlines_data(situation)},
    )
    follow_primary(
        session,
        situation,
        combined,
        actor=SYSTEM_ACTOR,
        now=now,
        cause={"cause": "signal_joined", "signal_id": signal.id},
        fiches=fiches,
    )
    if situation.signal_count >= REPEATED_SIGNALS_THRESHOLD:
        escalate(session, situation, reason="repeated_signals", actor=SYSTEM_ACTOR, now=now)
    return situation


def place_signal(
    session: Session,
    signal: Signal,
    decision: Decision,
    territory: Territory,
    fiches: FicheBook,
    now: datetime,
    candidates: JoinCandidates | None = None,
) -> Situation:
    """Join the open situation the signal is about, or open a new one. `candidates` are those read for the
    transaction's signals in its sector (`join_candidates`; read for this signal alone when not given). The
    rows are written at the session's next flush: a transaction's signals are written together."""
    sighting = sighting_of_signal(signal, decision, territory)
    if candidates is None:
        candidates = join_candidates(session, [sighting])[sighting.sector]
    existing = candidates.joinable(sighting)
    if existing is None:
        situation = _open(session, signal, decision, territory, fiches, now)
        candidates.opened(situation)
    else:
        situation = _join(session, existing, signal, decision, territory, fiches, now)
    return situation
