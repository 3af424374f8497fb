"""What a draft would change: the signals of the last days routed again, with the book in force and with the
draft in its place, through the pure engine (`routing.route`), each with the weather plan in force when it was
received. Nothing is written; the stored decisions stay what they were.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlmodel import Session, col

from services.core.deadlines import DEADLINE_KINDS
from services.core.facts import Facts, WeatherPlan, facts_from_json
from services.core.fiches import FicheBook
from services.core.models import Event, Signal
from services.core.routing import Decision, route
from services.core.territory import Territory, TerritoryMap

# What the impact compares, in the order people read it.
COMPARED = ("primary_fiche", "lead", "directives", "deadlines")
MAX_EXAMPLES = 20
MAX_DAYS = 366
_OUTSIDE = Territory(None, None, None, "arrondissement")


@dataclass(frozen=True)
class StoredSignal:
    """A signal as the replay needs it: its facts, where it was placed, when it came."""

    id: str
    received_at: datetime
    facts: Facts
    arrondissement: int | None  # None: out of territory


class WeatherHistory:
    """The weather plan in force at any instant, from the plan's events (set and lifted)."""

    def __init__(self, changes: Sequence[tuple[datetime, WeatherPlan | None]]) -> None:
        self._at = [at for at, _ in changes]
        self._plans = [plan for _, plan in changes]

    def at(self, instant: datetime) -> WeatherPlan | None:
        index = bisect_right(self._at, instant)
        return self._plans[index - 1] if index else None


def weather_history(db: Session | Connection, until: datetime) -> WeatherHistory:
    rows = db.execute(
        select(col(Event.at), col(Event.type), col(Event.data))
        .where(col(Event.type).in_(("weather_plan_set", "weather_plan_cleared")), col(Event.at) <= until)
        .order_by(col(Event.at), col(Event.id))
    ).all()
    return WeatherHistory(
        [
            (at, WeatherPlan(kind=data["kind"], level=data["level"]) if kind == "weather_plan_set" else None)
            for at, kind, data in rows
        ]
    )


def stored_signals(db: Session | Connection, since: datetime, until: datetime) -> list[StoredSignal]:
    """The signals routed (in Paris or not) received in [since, until)."""
    rows = db.execute(
        select(
            col(Signal.id), col(Signal.received_at), col(Signal.people), col(Signal.flags), col(Signal.arrondissement)
        )
        .where(
            col(Signal.received_at) >= since,
            col(Signal.received_at) < until,
            col(Signal.status).in_(("routed", "out_of_territory")),
        )
        .order_by(col(Signal.received_at), col(Signal.id))
    ).all()
    return [
        StoredSignal(
            row.id, row.received_at, facts_from_json({"people": row.people, "flags": row.flags}), row.arrondissement
        )
        for row in rows
    ]


class _Places:
    """The territory of each arrondissement, located once: where a signal was placed is all routing needs
    (its lead's sector and CAVS zone); out of territory, nobody leads."""

    def __init__(self, territory_map: TerritoryMap) -> None:
        self.territory_map = territory_map
        self.known: dict[int | None, Territory] = {None: _OUTSIDE}

    def __call__(self, signal: StoredSignal) -> Territory:
        territory = self.known.get(signal.arrondissement)
        if territory is None:
            territory = self.known[signal.arrondissement] = self.territory_map.locate(
                arrondissement=signal.arrondissement
            )
        return territory


def replay(
    signals: Sequence[StoredSignal], book: FicheBook, territory_map: TerritoryMap, weather: WeatherHistory
) -> Iterator[tuple[StoredSignal, Decision]]:
    """Each signal's decision with `book`, where it was placed and under the plan of its reception."""
    place = _Places(territory_map)
    for signal in signals:
        yield signal, route(signal.facts, book, place(signal), weather.at(signal.received_at))


def outcome(decision: Decision) -> dict[str, Any]:
    """What the impact compares of a decision, as the API shows it."""
    return {
        "primary_fiche": decision.primary_fiche,
        "lead": decision.lead,
        "directives": list(decision.directives),
        "deadlines": None
        if decision.deadlines is None
        else {kind: getattr(decision.deadlines, kind).total_seconds() for kind in DEADLINE_KINDS},
    }


@dataclass
class Impact:
    days: int
    signals: int = 0
    changed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COMPARED, 0))
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, with_examples: bool) -> dict[str, Any]:
        return {
            "days": self.days,
            "signals": self.signals,
            "changed": dict(self.changed),
            "examples": self.examples if with_examples else [],
        }


def compare(
    signals: Sequence[StoredSignal],
    before: FicheBook,
    after: FicheBook,
    territory_map: TerritoryMap,
    weather: WeatherHistory,
    *,
    days: int,
) -> Impact:
    """How many of `signals` would get another primary fiche, lead, directives or deadlines with `after`."""
    impact = Impact(days=days, signals=len(signals))
    place = _Places(territory_map)
    # Routing is pure: signals with the same facts, place and plan (many: one adult, no flag) are decided once.
    decided: dict[tuple[Facts, int | None, WeatherPlan | None], tuple[Decision, Decision, list[str]]] = {}
    for signal in signals:
        plan = weather.at(signal.received_at)
        key = (signal.facts, signal.arrondissement, plan)
        known = decided.get(key)
        if known is None:
            territory = place(signal)
            old, new = route(signal.facts, before, territory, plan), route(signal.facts, after, territory, plan)
            known = decided[key] = (old, new, _differences(old, new))
        old, new, differs = known
        for name in differs:
            impact.changed[name] += 1
        if differs and len(impact.examples) < MAX_EXAMPLES:
            impact.examples.append({"signal_id": signal.id, "before": outcome(old), "after": outcome(new)})
    return impact


def _differences(old: Decision, new: Decision) -> list[str]:
    return [
        name
        for name, a, b in (
            ("primary_fiche", old.primary_fiche, new.primary_fiche),
            ("lead", old.lead, new.lead),
            ("directives", old.directives, new.directives),
            ("deadlines", old.deadlines, new.deadlines),
        )
        if a != b
    ]


def draft_impact(
    db: Session | Connection,
    before: FicheBook,
    after: FicheBook,
    territory_map: TerritoryMap,
    *,
    days: int,
    now: datetime,
) -> Impact:
    since = now - timedelta(days=days)
    return compare(stored_signals(db, since, now), before, after, territory_map, weather_history(db, now), days=days)
