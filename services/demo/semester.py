"""A realistic synthetic semester (`urgence demo`): signals spread over the half-year with their reception times,
received and routed by the real code with the clock set to each one's time, then carried through
acknowledgements, contacts, escalations (by hand, by the real deadline scan, by repeated signals) and outcomes.

Realism, roughly: more signals in winter and in the evening and at night; more in the north and east of Paris;
mostly single adults, then families, women alone, young people, elderly people, minors, and the rarer fiches
(every fiche appears at least once); 15 % of signals are reports of a household already reported (they join);
times to act are drawn around the fiche's deadlines, a few late. The deadline scan runs as the scheduler would
(every 30 s of simulated time), but only at the instants when one of the demo's situations is overdue, which is
when it can find something.

Speed: sectors never share a situation (joins stay within a sector), so the signals are shared out by sector
among worker processes, each the only writer of its sectors, each handling its steps in time order in its own
connection. The same seed gives the same signals, facts, times, actions and ids (`SeededIds`), hence the same
figures, whatever the number of workers.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from services.core.fiches import FicheBook
from services.core.models import Signal, Situation
from services.core.situations.actions import can_do
from services.core.situations.deadlines import scan_deadlines
from services.core.situations.status import OPEN_STATUSES
from services.core.stats.rollups import by_month, roll_days
from services.core.stats.semesters import Semester, paris_midnight
from services.core.territory import SECTORS, TerritoryMap
from services.demo.driver import (
    Driver,
    SeededIds,
    only_demo_situations,
    read_reference_tables_once,
    scan_skipping_sectors,
    synchronous_commit_off,
    write_as_demo,
)
from services.demo.parallel import DemoError, in_processes
from services.demo.places import random_point
from services.demo.purge import real_signals

# How often the scheduler looks for overdue deadlines (URGENCE_DEADLINE_SCAN_SECONDS, default): an overdue
# deadline is found at the first multiple of this after it passes.
SCAN_PERIOD_SECONDS = 30
COMMIT_EVERY = 500  # signals per transaction
PROGRESS_EVERY = 50
MAX_WORKERS = 8
REPEAT_SHARE = 0.15
OUT_OF_PARIS = "hors-paris"  # the share of the signals routed out of territory (no situation, no sector)

# North and east weigh more (more people sleeping out, more camps), the west less.
ARRONDISSEMENT_WEIGHTS: dict[int, float] = {
    1: 2, 2: 1.5, 3: 1.5, 4: 2, 5: 2, 6: 1.5, 7: 1, 8: 2, 9: 2.5, 10: 6,
    11: 5, 12: 5, 13: 5, 14: 3.5, 15: 3, 16: 1.5, 17: 3, 18: 9, 19: 8, 20: 6,
}  # fmt: skip
HOUR_WEIGHTS = (3, 2, 1.5, 1, 1, 1, 1.5, 2, 3, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 4, 4.5, 5, 6, 6.5, 6, 5, 4)
SOURCES = (
    ("maraude", 40), ("riverain", 15), ("numero_115", 12), ("partenaire", 10), ("mairie", 8),
    ("police", 5), ("sante", 5), ("transport", 3), ("autre", 2),
)  # fmt: skip
OUTCOMES = (
    ("sheltered", 30), ("oriented", 22), ("not_found", 12), ("refused", 10), ("already_supported", 10),
    ("hospitalized", 7), ("left_area", 5), ("other", 3), ("deceased", 1),
)  # fmt: skip
FLAG_RATES: dict[str, float] = {
    "psychiatric_distress": 0.05, "drug_use": 0.05, "hospital_exit": 0.02, "prison_exit": 0.01,
    "violence": 0.03, "disability": 0.02, "loss_of_autonomy": 0.01, "animals": 0.03, "pregnant": 0.01,
    "recent_birth": 0.004, "suicide_risk": 0.01, "immediate_danger": 0.01, "vital_emergency": 0.005,
    "camp": 0.01, "deceased": 0.001, "child_in_danger": 0.005, "care_leaver": 0.01,
}  # fmt: skip
# One signal at least for each fiche, and one resolved situation at least for each outcome, whatever the draw
# (given enough signals): these signals have coordinates, are never made repeats of another, come early enough
# for their situation to be resolved within the period, and their situation is always resolved, with this outcome
# when one is given (FR14's is always `deceased`).
EVERY_FICHE: tuple[tuple[dict[str, Any], tuple[str, ...], str | None], ...] = (
    ({"adults": 1, "adult_genders": ["male"], "adult_age_bands": ["26-59"]}, (), None),  # FR00
    ({"adults": 2, "children": 2}, (), "sheltered"),  # FR01
    ({"adults": 1}, ("pregnant",), "hospitalized"),  # FR02
    ({"unaccompanied_minors": 1}, (), "oriented"),  # FR03
    ({"adults": 1}, ("hospital_exit",), "refused"),  # FR04
    ({"adults": 1}, ("vital_emergency",), "not_found"),  # FR05
    ({"adults": 1}, ("psychiatric_distress",), "already_supported"),  # FR06
    ({"adults": 1, "adult_genders": ["female"]}, (), "left_area"),  # FR07
    ({"adults": 1}, ("violence",), "other"),  # FR08
    ({"adults": 1, "adult_age_bands": ["60+"]}, (), None),  # FR09
    ({"adults": 1, "adult_age_bands": ["18-25"]}, (), None),  # FR10
    ({"adults": 1}, ("cold_exposure",), None),  # FR11
    ({}, ("camp",), None),  # FR12
    ({"adults": 1}, ("drug_use",), None),  # FR13
    ({}, ("deceased",), "deceased"),  # FR14
)
# The longest a situation can take to be resolved here: a 14-day deadline, 2.5 times over, after a late contact.
FORCED_BEFORE_END = timedelta(days=50)


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _people(rng: random.Random) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.50:
        people: dict[str, Any] = {"adults": 1}
    elif kind < 0.62:
        people = {"adults": rng.randint(2, 4)}
    elif kind < 0.80:
        people = {"adults": rng.randint(1, 2), "children": rng.randint(1, 4)}
    elif kind < 0.84:
        people = {"unaccompanied_minors": rng.randint(1, 3)}
    else:
        people = {"adults": rng.randint(3, 10), "children": rng.choice((0, 0, 1, 2))}
    adults = people.get("adults", 0)
    if adults and rng.random() < 0.7:
        women_alone = adults == 1 and rng.random() < 0.25
        people["adult_genders"] = [
            "female" if women_alone else rng.choice(("female", "male", "male", "male", "unknown"))
            for _ in range(adults)
        ]
    if adults and rng.random() < 0.5:
        people["adult_age_bands"] = [rng.choice(("18-25", "26-59", "26-59", "26-59", "60+")) for _ in range(adults)]
    return people


def _flags(rng: random.Random, when: datetime) -> list[str]:
    flags = [flag for flag, rate in FLAG_RATES.items() if rng.random() < rate]
    month = when.month
    if month in (11, 12, 1, 2) and rng.random() < 0.08:
        flags.append("cold_exposure")
    if month in (6, 7, 8) and rng.random() < 0.05:
        flags.append("heat_exposure")
    return flags


@dataclass(frozen=True)
class PlannedSignal:
    at: datetime
    source: str
    people: dict[str, Any]
    flags: tuple[str, ...]
    location: dict[str, Any]  # Driver.signal's point / arrondissement / postcode
    follow_seed: float  # seeds this signal's own draws for what is done next
    forced: bool = False  # one of EVERY_FICHE's
    outcome: str | None = None  # the outcome its situation is given (forced ones only)


def plan(
    semester: Semester, count: int, seed: int, until: datetime, territory_map: TerritoryMap
) -> list[PlannedSignal]:
    """The signals of the semester, in reception order (deterministic for a seed). Times are in UTC, as the
    system's clock gives them: durations added to them are then exact, across a change of legal time too."""
    rng = random.Random(seed)
    until = until.astimezone(UTC)
    days = [d for d in semester.days() if paris_midnight(d) < until]
    if not days:
        raise ValueError(f"le semestre {semester.code} n'a pas encore commencé")
    # Winter peaks in mid-January; summer is calmer.
    day_weights = [1.0 + 0.6 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365.25) for d in days]
    arrondissements, weights = list(ARRONDISSEMENT_WEIGHTS), list(ARRONDISSEMENT_WEIGHTS.values())
    forced = dict(zip(rng.sample(range(count), min(count, len(EVERY_FICHE))), EVERY_FICHE, strict=False))
    forced_until = max(until - FORCED_BEFORE_END, paris_midnight(days[0]).astimezone(UTC))
    planned: list[PlannedSignal] = []
    for index in range(count):
        day = rng.choices(days, weights=day_weights)[0]
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        at = (paris_midnight(day) + timedelta(hours=hour, seconds=rng.randrange(3600))).astimezone(UTC)
        at = min(at, until - timedelta(seconds=1))
        if index in forced:
            people, fiche_flags, outcome = forced[index]
            people, flags = dict(people), list(fiche_flags)
            at = min(at, forced_until)
        else:
            people, flags, outcome = _people(rng), _flags(rng, at), None
        draw = rng.random()
        if index in forced or draw >= 0.09:
            location: dict[str, Any] = {
                "point": random_point(rng, territory_map, rng.choices(arrondissements, weights=weights)[0])
            }
        elif draw < 0.01:
            location = {"postcode": rng.choice(("93200", "93300", "94200", "92100"))}
        else:
            location = {"arrondissement": rng.choices(arrondissements, weights=weights)[0]}
        planned.append(
            PlannedSignal(
                at, _pick(rng, SOURCES), people, tuple(flags), location, rng.random(), index in forced, outcome
            )
        )
    planned.sort(key=lambda s: s.at)
    # Some households are reported again within hours, at the same place: those signals join.
    for index in range(1, len(planned)):
        if rng.random() < REPEAT_SHARE and not planned[index].forced:
            earlier = planned[rng.randrange(max(0, index - 20), index)]
            again = earlier.at + timedelta(minutes=rng.randint(20, 36 * 60))
            if again < until and again - earlier.at < timedelta(hours=60):
                planned[index] = PlannedSignal(
                    again,
                    _pick(rng, SOURCES),
                    earlier.people,
                    earlier.flags,
                    earlier.location,
                    planned[index].follow_seed,
                )
    planned.sort(key=lambda s: s.at)
    return planned


def _delay(rng: random.Random, deadline: timedelta, late_share: float) -> timedelta:
    """Mostly within the deadline (around 40 % of it), sometimes late."""
    seconds = deadline.total_seconds()
    if rng.random() < late_share:
        return timedelta(seconds=seconds * rng.uniform(1.05, 2.5))
    return timedelta(seconds=max(60.0, seconds * min(0.98, rng.lognormvariate(math.log(0.35), 0.6))))


def next_scan(after: datetime) -> datetime:
    """The first scan of the scheduler strictly after `after` (scans every SCAN_PERIOD_SECONDS)."""
    seconds = (math.floor(after.timestamp()) // SCAN_PERIOD_SECONDS + 1) * SCAN_PERIOD_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


def overdue(situation: Situation, deadline: str, now: datetime) -> bool:
    """Whether the deadline scan at `now` has something to do about this deadline of this situation (the scan's
    own conditions: `ACK_PENDING`, `CONTACT_PENDING`, `RESOLVE_PENDING` and a passed deadline)."""
    if situation.status not in OPEN_STATUSES:
        return False
    if deadline == "ack":
        return (
            situation.acknowledged_at is None
            and "ack_overdue" not in situation.escalation_reasons
            and situation.ack_due < now
        )
    if deadline == "contact":
        return (
            situation.first_contact_at is None and situation.contact_overdue_at is None and situation.contact_due < now
        )
    return "resolve_overdue" not in situation.escalation_reasons and situation.resolve_due < now


# Order of the steps at one instant: signals, then what people do, then the deadline scan.
_SIGNAL, _ACTION, _SCAN = 0, 1, 2
Step = tuple[datetime, int, int, int, str, Any]  # at, rank, signal index, number, action, target


@dataclass
class DemoResult:
    signals: int = 0
    situations: int = 0
    actions: int = 0
    escalations: int = 0
    days_rolled: int = 0

    def add(self, other: DemoResult) -> None:
        for each in fields(self):
            setattr(self, each.name, getattr(self, each.name) + getattr(other, each.name))


@dataclass(frozen=True)
class Share:
    """The sectors one worker owns, and their signals (indexes in the plan, in reception order)."""

    sectors: tuple[str, ...]
    signals: list[int] = field(compare=False)


def _where(location: dict[str, Any]) -> dict[str, Any]:
    if "point" in location:
        return {"lat": location["point"][0], "lon": location["point"][1]}
    return dict(location)


def share_out(planned: Sequence[PlannedSignal], territory_map: TerritoryMap, workers: int) -> list[Share]:
    """Every sector to one worker (the busiest first, each to the least loaded), by where routing will place each
    signal (the same `locate`). Only workers with signals to handle are returned."""
    by_sector: dict[str, list[int]] = {sector: [] for sector in (*SECTORS, OUT_OF_PARIS)}
    for index, signal in enumerate(planned):
        sector = territory_map.locate(**_where(signal.location)).sector or OUT_OF_PARIS
        by_sector[sector].append(index)
    busy = sum(1 for signals in by_sector.values() if signals)
    loads: list[tuple[list[str], list[int]]] = [([], []) for _ in range(max(1, min(workers, busy)))]
    for sector in sorted(by_sector, key=lambda s: (-len(by_sector[s]), s)):
        sectors, signals = min(loads, key=lambda load: (len(load[1]), len(load[0])))
        sectors.append(sector)
        signals.extend(by_sector[sector])
    return [Share(tuple(sorted(sectors)), sorted(signals)) for sectors, signals in loads]


class _Simulation:
    """One worker's steps, in time order, in one session whose only writer it is for its sectors."""

    def __init__(
        self,
        engine: Engine,
        session: Session,
        driver: Driver,
        planned: Sequence[PlannedSignal],
        share: Share,
        others: Collection[str],
        ids: SeededIds,
        until: datetime,
        progress: Callable[[int], None],
    ) -> None:
        self.session, self.driver, self.planned, self.ids, self.until = session, driver, planned, ids, until
        self.engine = engine
        self.progress = progress
        self.restricted = scan_skipping_sectors(session, others)
        self.steps: list[Step] = []
        self.waiting: Counter[str] = Counter()  # steps still planned for each situation
        self.result = DemoResult()
        for index in share.signals:
            self._later(planned[index].at, _SIGNAL, index, 0, "signal", None)

    def _later(self, at: datetime, rank: int, index: int, number: int, action: str, target: Any) -> None:
        if at < self.until:
            heapq.heappush(self.steps, (at, rank, index, number, action, target))
            if target is not None:
                self.waiting[target[0]] += 1

    def run(self) -> DemoResult:
        since_commit = since_progress = 0
        last_scan: datetime | None = None
        while self.steps:
            at, _, index, number, action, target = heapq.heappop(self.steps)
            if action == "signal":
                self._signal(at, index)
                since_commit += 1
                since_progress += 1
                if since_progress >= PROGRESS_EVERY:
                    self.progress(since_progress)
                    since_progress = 0
                if since_commit >= COMMIT_EVERY:
                    self._commit()
                    since_commit = 0
                continue
            situation_id, extra = target
            situation = self.driver.situation(situation_id)
            if action == "check":
                if at != last_scan and overdue(situation, extra, at):
                    with self.restricted():  # the real scan, over this worker's sectors
                        while scan_deadlines(self.session, now=at).full:
                            pass
                    last_scan = at
            elif can_do("contacts" if action == "contact" else action, situation.status):
                self.ids.step(f"s{index}.{number}")
                if action == "acknowledge":
                    self.driver.acknowledge(situation_id, at)
                elif action == "contact":
                    self.driver.contact(situation_id, at, extra)
                elif action == "resolve":
                    self.driver.resolve(situation_id, at, extra)
                elif action == "escalate":
                    self.driver.escalate(situation_id, at)
                self.ids.step(None)
                self.result.actions += 1
            self.waiting[situation_id] -= 1
            if not self.waiting[situation_id]:
                del self.waiting[situation_id]
                self.driver.release(situation_id)
        self._commit()
        self.progress(since_progress)
        return self.result

    def _commit(self) -> None:
        self.driver.finish_outbox()
        self.session.commit()
        tidy_up(self.engine)

    def _signal(self, at: datetime, index: int) -> None:
        signal = self.planned[index]
        self.ids.step(f"s{index}")
        _, situation_id = self.driver.signal(
            at, source=signal.source, people=signal.people, flags=signal.flags, **signal.location
        )
        self.ids.step(None)
        self.result.signals += 1
        if situation_id is None:
            return
        situation = self.driver.situation(situation_id)
        number = 0
        if situation.signal_count == 1:  # opened by this signal
            self.result.situations += 1
            number = self._schedule(signal, situation, at, index)
        # Deadlines are set (or tightened by a join): look for them passing as the scheduler would. A deadline
        # already passed was set by an earlier signal (new ones are later than their signal), and looked for then.
        for deadline, due in (
            ("ack", situation.ack_due),
            ("contact", situation.contact_due),
            ("resolve", situation.resolve_due),
        ):
            number += 1
            if due >= at:
                self._later(next_scan(due), _SCAN, index, number, "check", (situation_id, deadline))
        if not self.waiting[situation_id]:
            del self.waiting[situation_id]
            self.driver.release(situation_id)

    def _schedule(self, signal: PlannedSignal, situation: Situation, at: datetime, index: int) -> int:
        """What will be done to a new situation, drawn around its deadlines from this signal's own random
        stream; returns how many steps were numbered."""
        rng = random.Random(signal.follow_seed)
        planned: list[tuple[datetime, str, Any]] = []
        ack = _delay(rng, situation.ack_due - at, 0.08)
        planned.append((at + ack, "acknowledge", None))
        if rng.random() < 0.03:
            planned.append((at + ack + timedelta(minutes=10), "escalate", None))
        contact = ack + _delay(rng, situation.contact_due - at, 0.12)
        if rng.random() < 0.85:
            result = rng.choices(("met", "not_found", "refused"), weights=(80, 12, 8))[0]
            planned.append((at + contact, "contact", result))
        if rng.random() < 0.95 or signal.forced:
            outcome = "deceased" if situation.primary_fiche == "FR14" else signal.outcome or _pick(rng, OUTCOMES)
            resolve = max(contact, _delay(rng, situation.resolve_due - at, 0.1)) + timedelta(minutes=rng.randint(5, 90))
            planned.append((at + resolve, "resolve", outcome))
        for number, (when, action, extra) in enumerate(planned, start=1):
            self._later(when, _ACTION, index, number, action, (situation.id, extra))
        return len(planned)


# The tables each signal and action rewrites rows of.
CHURNED_TABLES = ("situations", "signals", "outbox")


def tidy_up(engine: Engine) -> None:
    """Vacuum and analyze the tables the demo keeps rewriting (between two transactions), as autovacuum would
    if it were on and quick enough for a burst like this one: the joins' and the scan's index scans otherwise
    wade through every superseded row version of the run."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text(f"VACUUM (ANALYZE, SKIP_LOCKED) {', '.join(CHURNED_TABLES)}"))


def _simulate(
    engine: Engine,
    planned: Sequence[PlannedSignal],
    share: Share,
    others: Collection[str],
    ids: SeededIds,
    until: datetime,
    fiches: FicheBook,
    territory_map: TerritoryMap,
    progress: Callable[[int], None],
) -> DemoResult:
    with Session(engine, expire_on_commit=False) as session, ids.installed():
        write_as_demo(session)
        synchronous_commit_off(session)
        only_demo_situations(session)
        read_reference_tables_once(session)
        driver = Driver(session, fiches, territory_map, sole_writer=True)
        try:
            result = _Simulation(engine, session, driver, planned, share, others, ids, until, progress).run()
        finally:
            driver.close()
            session.rollback()
            session.execute(text("RESET synchronous_commit"))
            session.commit()
    return result


def _others(shares: Sequence[Share], share: Share) -> tuple[str, ...]:
    return tuple(sorted(sector for other in shares if other is not share for sector in other.sectors))


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def run_ids(semester: Semester, count: int, seed: int) -> SeededIds:
    """The ids of one run: the same semester, count and seed give the same ids."""
    return SeededIds(uuid.uuid5(uuid.NAMESPACE_URL, f"urgence-demo/{semester.code}/{count}/{seed}"))


def run(
    engine: Engine,
    semester: Semester,
    *,
    count: int,
    seed: int,
    now: datetime,
    fiches: FicheBook,
    territory_map: TerritoryMap,
    progress: Callable[[int], None] = lambda _: None,
    workers: int | None = None,
    force: bool = False,
) -> DemoResult:
    """Fill the semester (each worker commits as it goes, every `COMMIT_EVERY` signals), then roll up its closed
    days. Raises ValueError (message in French) when there is nothing to do or the database holds real signals
    (unless `force`), DemoError when a worker failed. Everything written is marked (`write_as_demo`)."""
    until = min(semester.end, now).astimezone(UTC)
    planned = plan(semester, count, seed, until, territory_map)
    ids = run_ids(semester, count, seed)
    with Session(engine) as session:
        real = real_signals(session)
        if real and not force:
            raise ValueError(
                f"cette base contient {real} signalement(s) qui ne viennent pas de la démonstration : elle n'y "
                "écrit pas (une base vide, ou --force pour y mêler des données synthétiques, marquées et "
                "retirées ensuite par `urgence demo --purge`)"
            )
        if session.get(Signal, ids.id_for("s0")) is not None:
            raise ValueError(
                f"cette base contient déjà cette démonstration ({semester.code}, {count} signalements, graine "
                f"{seed}) : choisissez une autre graine ou videz la base"
            )
    shares = share_out(planned, territory_map, workers or default_workers())
    jobs = [
        partial(_simulate, engine, planned, share, _others(shares, share), ids, until, fiches, territory_map)
        for share in shares
    ]
    result = DemoResult()
    for part in in_processes(engine, jobs, progress):
        result.add(part)

    days: list[date] = []
    day = semester.first_day
    while paris_midnight(day + timedelta(days=1)) <= now and day < semester.end_day:
        days.append(day)
        day += timedelta(days=1)
    # Here, as the rollup task does it: a month's days in one transaction (the tables read once for them), which
    # takes a few seconds and forks nothing more from a process that may have threads.
    with Session(engine, expire_on_commit=False) as session:
        for month in by_month(days):
            roll_days(session, month, now)
            session.commit()
        result.days_rolled = len(days)
        result.escalations = int(
            session.execute(
                text("SELECT count(*) FROM events WHERE type = 'escalated' AND at >= :start AND at < :end"),
                {"start": semester.start, "end": semester.end},
            ).scalar_one()
        )
    return result


__all__ = ["DemoError", "DemoResult", "PlannedSignal", "plan", "run"]
