"""The day in progress, rolled up so far: what lets a semester in progress compute live only the last minute.

The scheduler recomputes the day from its midnight (Paris time) up to the instant of the run, `until`, with
`tally_days` as it counts at that instant, and keeps only that computation (DELETE + INSERT under a lock). A
report adds the live tally of [until, now): each event counts in exactly one of the two parts, so the sum is
what a whole live day gives, except for a past instant written after `until` (a contact logged late, a
situation merged since), which the next run, a minute later, takes in, as closed days take late data in when
they are rolled up again. A computation older than MAX_AGE (the scheduler stopped) is not used: the whole day is
then computed live, never figures more than a few minutes behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, delete

from services.core.models import TodayRollup
from services.core.models.stats import ALL_PARIS
from services.core.stats.semesters import paris_day, paris_midnight
from services.core.stats.tally import Tally, tally_days, total

# Longest a computation of the day so far is used after its instant (the scheduler runs every minute or so).
MAX_AGE = timedelta(minutes=5)
# Advisory lock taken while the day so far is recomputed (two workers at once: one after the other).
TODAY_LOCK = (7_310_007, 0)


def roll_today(session: Session, now: datetime) -> int:
    """Recompute the day in progress from its midnight up to `now`; returns how many rows were written (one per
    sector with anything, and the all-Paris row, written even for an empty day: it says up to when)."""
    session.execute(sa_select(func.pg_advisory_xact_lock(*TODAY_LOCK)))
    session.execute(delete(TodayRollup))  # an earlier day's too: its closed-day rollup replaces it
    day = paris_day(now)
    by_sector = {sector: tally for (_, sector), tally in tally_days(session, paris_midnight(day), now, now).items()}
    rows = [_row(day, sector, tally, now) for sector, tally in sorted(by_sector.items())]
    rows.append(_row(day, ALL_PARIS, total(by_sector.values()), now))
    session.add_all(rows)
    session.flush()
    return len(rows)


def _row(day: date, sector: str, tally: Tally, until: datetime) -> TodayRollup:
    return TodayRollup(
        day=day, sector=sector, counts=dict(sorted(tally.counts.items())), durations=tally.durations_json(), until=until
    )


@dataclass(frozen=True)
class SoFar:
    """The day in progress up to `until`, by sector as `tally_days(durations_of=…)` gives it: each sector's
    counts, and durations only under the scope asked for (ALL_PARIS, whose counts are left out, or a sector)."""

    until: datetime
    tallies: dict[str, Tally]


def read_today(session: Session, now: datetime, *, durations_of: str) -> SoFar | None:
    """The latest computation of today if it is recent enough to use at `now`, with the durations of
    `durations_of` (ALL_PARIS or a sector); None when there is none to use (the day is then computed live)."""
    rows = session.execute(
        text(
            "SELECT sector, until, CASE WHEN sector <> :all THEN counts END,"
            " CASE WHEN sector = :wanted THEN durations END"
            " FROM stats_today WHERE day = :day AND until <= :now AND until >= :fresh"
        ),
        {"all": ALL_PARIS, "wanted": durations_of, "day": paris_day(now), "now": now, "fresh": now - MAX_AGE},
    ).all()
    if not rows:
        return None
    tallies = {sector: Tally.from_json(counts or {}, hists or {}) for sector, _, counts, hists in rows}
    return SoFar(rows[0][1], tallies)
