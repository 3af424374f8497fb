"""A realistic synthetic semester (`urgence demo`): signals spread over the half-year with their reception times,
received and routed by the real code with the clock set to each one's time, then carried through
acknowledgements, contacts, escalations (by hand, by the real deadline scan, by repeated signals) and outcomes.

Realism, roughly: more signals in winter and in the evening and at night; more in the north and east of Paris;
mostly single adults, then families, women alone, young people, elderly people, minors, and the rarer fiches
(every fiche appears at least once); 15 % of signals are reports of a household already reported (they join);
times to act are drawn around the fiche's deadlines, a few late. The same seed gives the same signals, facts,
times and actions, hence the same figures (ids are random UUIDs).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from services.core.fiches import FicheBook
from services.core.models import Situation
from services.core.situations.actions import can_do
from services.core.situations.deadlines import scan_deadlines
from services.core.stats.rollups import roll_day
from services.core.stats.semesters import Semester, paris_midnight
from services.core.territory import TerritoryMap
from services.demo.driver import Driver
from services.demo.places import random_point

# The real deadline scan, every few simulated hours (a scan costs as much as several signals).
SCAN_EVERY = timedelta(hours=4)
COMMIT_EVERY = 500  # signals per transaction
REPEAT_SHARE = 0.15

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
# One signal at least for each fiche, whatever the draw.
EVERY_FICHE: tuple[tuple[dict[str, Any], tuple[str, ...]], ...] = (
    ({"adults": 1, "adult_genders": ["male"], "adult_age_bands": ["26-59"]}, ()),  # FR00
    ({"adults": 2, "children": 2}, ()),  # FR01
    ({"adults": 1}, ("pregnant",)),  # FR02
    ({"unaccompanied_minors": 1}, ()),  # FR03
    ({"adults": 1}, ("hospital_exit",)),  # FR04
    ({"adults": 1}, ("vital_emergency",)),  # FR05
    ({"adults": 1}, ("psychiatric_distress",)),  # FR06
    ({"adults": 1, "adult_genders": ["female"]}, ()),  # FR07
    ({"adults": 1}, ("violence",)),  # FR08
    ({"adults": 1, "adult_age_bands": ["60+"]}, ()),  # FR09
    ({"adults": 1, "adult_age_bands": ["18-25"]}, ()),  # FR10
    ({"adults": 1}, ("cold_exposure",)),  # FR11
    ({}, ("camp",)),  # FR12
    ({"adults": 1}, ("drug_use",)),  # FR13
    ({}, ("deceased",)),  # FR14
)


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
    follow_up: random.Random = field(compare=False)  # this signal's own draws for what is done next


def plan(semester: Semester, count: int, seed: int, until: datetime) -> list[PlannedSignal]:
    """The signals of the semester, in reception order (deterministic for a seed)."""
    rng = random.Random(seed)
    days = [d for d in semester.days() if paris_midnight(d) < until]
    if not days:
        raise ValueError(f"le semestre {semester.code} n'a pas encore commencé")
    # Winter peaks in mid-January; summer is calmer.
    day_weights = [1.0 + 0.6 * math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365.25) for d in days]
    arrondissements, weights = list(ARRONDISSEMENT_WEIGHTS), list(ARRONDISSEMENT_WEIGHTS.values())
    forced = dict(zip(rng.sample(range(count), min(count, len(EVERY_FICHE))), EVERY_FICHE, strict=False))
    planned: list[PlannedSignal] = []
    for index in range(count):
        day = rng.choices(days, weights=day_weights)[0]
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        at = paris_midnight(day) + timedelta(hours=hour, seconds=rng.randrange(3600))
        at = min(at, until - timedelta(seconds=1))
        people, flags = (dict(forced[index][0]), list(forced[index][1])) if index in forced else (_people(rng), [])
        if index not in forced:
            flags = _flags(rng, at)
        draw = rng.random()
        if draw < 0.01:
            location: dict[str, Any] = {"postcode": rng.choice(("93200", "93300", "94200", "92100"))}
        elif draw < 0.09:
            location = {"arrondissement": rng.choices(arrondissements, weights=weights)[0]}
        else:
            location = {"point": random_point(rng, rng.choices(arrondissements, weights=weights)[0])}
        planned.append(
            PlannedSignal(at, _pick(rng, SOURCES), people, tuple(flags), location, random.Random(rng.random()))
        )
    planned.sort(key=lambda s: s.at)
    # Some households are reported again within hours, at the same place: those signals join.
    for index in range(1, len(planned)):
        if rng.random() < REPEAT_SHARE:
            earlier = planned[rng.randrange(max(0, index - 20), index)]
            again = earlier.at + timedelta(minutes=rng.randint(20, 36 * 60))
            if again < until and again - earlier.at < timedelta(hours=60):
                planned[index] = PlannedSignal(
                    again,
                    _pick(rng, SOURCES),
                    earlier.people,
                    earlier.flags,
                    earlier.location,
                    planned[index].follow_up,
                )
    planned.sort(key=lambda s: s.at)
    return planned


def _delay(rng: random.Random, deadline: timedelta, late_share: float) -> timedelta:
    """Mostly within the deadline (around 40 % of it), sometimes late."""
    seconds = deadline.total_seconds()
    if rng.random() < late_share:
        return timedelta(seconds=seconds * rng.uniform(1.05, 2.5))
    return timedelta(seconds=max(60.0, seconds * min(0.98, rng.lognormvariate(math.log(0.35), 0.6))))


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    action: str = field(compare=False)
    target: Any = field(compare=False)


@dataclass
class DemoResult:
    signals: int = 0
    situations: int = 0
    actions: int = 0
    escalations: int = 0
    days_rolled: int = 0


def run(
    session: Session,
    semester: Semester,
    *,
    count: int,
    seed: int,
    now: datetime,
    fiches: FicheBook,
    territory_map: TerritoryMap,
    progress: Callable[[int], None] = lambda _: None,
) -> DemoResult:
    """Fill the semester; commits as it goes (every `COMMIT_EVERY` signals), then rolls up its closed days."""
    until = min(semester.end, now)
    planned = plan(semester, count, seed, until)
    driver = Driver(session, fiches, territory_map)
    result = DemoResult()
    steps: list[_Step] = []
    order = 0

    def later(at: datetime, action: str, target: Any) -> None:
        nonlocal order
        if at < until:
            order += 1
            heapq.heappush(steps, _Step(at, order, action, target))

    for each in planned:
        later(each.at, "signal", each)
    next_scan = semester.start + SCAN_EVERY
    later(next_scan, "scan", None)
    # Kept referenced: the session's identity map then answers status reads without a query.
    opened: dict[str, Situation] = {}
    since_commit = 0
    while steps:
        step = heapq.heappop(steps)
        if step.action == "scan":
            while scan_deadlines(session, now=step.at).full:
                pass
            session.commit()  # a scan's row locks are not kept while the next signals are handled
            later(step.at + SCAN_EVERY, "scan", None)
            continue
        if step.action == "signal":
            signal: PlannedSignal = step.target
            _, situation_id = driver.signal(
                step.at, source=signal.source, people=signal.people, flags=signal.flags, **signal.location
            )
            result.signals += 1
            since_commit += 1
            progress(1)
            if situation_id is not None and situation_id not in opened:
                opened[situation_id] = _schedule(signal, situation_id, step.at, driver, later)
                result.situations += 1
            if since_commit >= COMMIT_EVERY:
                session.commit()
                since_commit = 0
            continue
        situation_id, extra = step.target
        action = "contacts" if step.action == "contact" else step.action
        if not can_do(action, driver.status(situation_id)):
            continue  # merged or already resolved meanwhile
        if step.action == "acknowledge":
            driver.acknowledge(situation_id, step.at)
        elif step.action == "contact":
            driver.contact(situation_id, step.at, extra)
        elif step.action == "resolve":
            driver.resolve(situation_id, step.at, extra)
        elif step.action == "escalate":
            driver.escalate(situation_id, step.at)
        result.actions += 1
    session.commit()
    result.escalations = int(
        session.execute(
            text("SELECT count(*) FROM events WHERE type = 'escalated' AND at >= :start AND at < :end"),
            {"start": semester.start, "end": semester.end},
        ).scalar_one()
    )
    day = semester.first_day
    while paris_midnight(day + timedelta(days=1)) <= now and day < semester.end_day:
        roll_day(session, day, now)
        session.commit()
        result.days_rolled += 1
        day += timedelta(days=1)
    return result


def _schedule(signal: PlannedSignal, situation_id: str, at: datetime, driver: Driver, later: Any) -> Situation:
    """What will be done to a new situation, drawn around its deadlines from this signal's own random stream."""
    situation = driver.session.get(Situation, situation_id)
    assert situation is not None
    rng = signal.follow_up
    ack = _delay(rng, situation.ack_due - at, 0.08)
    later(at + ack, "acknowledge", (situation_id, None))
    if rng.random() < 0.03:
        later(at + ack + timedelta(minutes=10), "escalate", (situation_id, None))
    contact = ack + _delay(rng, situation.contact_due - at, 0.12)
    if rng.random() < 0.85:
        result = rng.choices(("met", "not_found", "refused"), weights=(80, 12, 8))[0]
        later(at + contact, "contact", (situation_id, result))
    if rng.random() < 0.95:
        outcome = "deceased" if situation.primary_fiche == "FR14" else _pick(rng, OUTCOMES)
        resolve = max(contact, _delay(rng, situation.resolve_due - at, 0.1)) + timedelta(minutes=rng.randint(5, 90))
        later(at + resolve, "resolve", (situation_id, outcome))
    return situation
