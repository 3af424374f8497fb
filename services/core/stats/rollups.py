"""Rollups of closed Paris days: each day recomputed whole from the tables (DELETE + INSERT in the caller's
transaction), so running the task twice, or at once on two workers, never doubles a count.

Which days: every closed day that has no rollup yet (from the first signal on), plus the last
`reroll_days` closed days again, which catches what arrives late (a contact logged afterwards, a signal
received before midnight but routed after). Older days are only computed when missing: a semester is frozen
`reroll_days` days after its end, and the figures shown at the meeting no longer move.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, delete, select

from services.core.models import DailyRollup, Signal
from services.core.models.stats import ALL_PARIS
from services.core.stats.semesters import paris_day, paris_midnight
from services.core.stats.tally import Tally, open_at, tally_days, total

# Namespace of the advisory locks taken while a day is recomputed.
ROLLUP_LOCK_SPACE = 7_310_006


def last_closed_day(now: datetime) -> date:
    return paris_day(now) - timedelta(days=1)


def days_to_roll(session: Session, now: datetime, *, reroll_days: int, limit: int) -> list[date]:
    """Closed days missing a rollup (oldest first), then the recent ones again; at most `limit`."""
    first_signal = session.exec(select(func.min(col(Signal.received_at)))).one()
    last = last_closed_day(now)
    if first_signal is None or paris_day(first_signal) > last:
        return []
    first = paris_day(first_signal)
    rolled = set(
        session.exec(
            select(col(DailyRollup.day)).where(
                col(DailyRollup.sector) == ALL_PARIS, col(DailyRollup.day) >= first, col(DailyRollup.day) <= last
            )
        ).all()
    )
    missing = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [day for day in missing if day not in rolled]
    recent = [last - timedelta(days=n) for n in reversed(range(reroll_days))]
    recent = [day for day in recent if day >= first and day in rolled]
    return (missing + recent)[:limit]


def roll_day(session: Session, day: date, now: datetime) -> int:
    """Recompute the rollup rows of one closed day; returns how many rows were written."""
    start, end = paris_midnight(day), paris_midnight(day + timedelta(days=1))
    if end > now:
        raise ValueError(f"la journée du {day.isoformat()} n'est pas terminée")
    session.execute(sa_select(func.pg_advisory_xact_lock(ROLLUP_LOCK_SPACE, day.toordinal())))
    session.execute(delete(DailyRollup).where(col(DailyRollup.day) == day))
    by_sector = {sector: tally for (_, sector), tally in tally_days(session, start, end, now).items()}
    open_by_sector = open_at(session, end)
    sectors = sorted(set(by_sector) | set(open_by_sector))
    rows = [_row(day, sector, by_sector.get(sector, Tally()), open_by_sector.get(sector, 0), now) for sector in sectors]
    rows.append(_row(day, ALL_PARIS, total(by_sector.values()), sum(open_by_sector.values()), now))
    session.add_all(rows)
    session.flush()
    return len(rows)


def _row(day: date, sector: str, tally: Tally, open_count: int, now: datetime) -> DailyRollup:
    return DailyRollup(
        day=day,
        sector=sector,
        counts=dict(sorted(tally.counts.items())),
        durations=tally.durations_json(),
        open_at_end=open_count,
        computed_at=now,
    )
