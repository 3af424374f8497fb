"""Rollups of closed Paris days: each day recomputed whole from the tables (DELETE + INSERT in the caller's
transaction), so running the task twice, or at once on two workers, never doubles a count.

Which days: every closed day that has no rollup yet (from the first signal on), plus the last
`reroll_days` closed days again, which catches what arrives late (a contact logged afterwards, a signal
received before midnight but routed after). Older days are only computed when missing: a semester is frozen
`reroll_days` days after its end, and the figures shown at the meeting no longer move.

Each recomputed day then re-merges its month (`stats_monthly`), noting which day revisions it summed: a
semester is read from six month rows per sector instead of 181 day rows. Two days of one month recomputed at
once may leave the month merged without the other's day; readers notice (the list no longer matches) and read
that month's days instead, and `refresh_stale_months` (run after each rollup run) merges it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, delete, select

from services.core.models import DailyRollup, MonthlyRollup, Signal
from services.core.models.stats import ALL_PARIS
from services.core.stats.semesters import paris_day, paris_midnight
from services.core.stats.tally import DayTallies, Tally, open_at_ends, tally_days, total

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
    return roll_days(session, [day], now)


def roll_days(session: Session, days: Iterable[date], now: datetime) -> int:
    """Recompute the rollup rows of closed days, best a month's at a time: the tables are read once for the
    run of days (not once per day) and the month is merged once. Returns how many rows were written."""
    chosen = sorted(set(days))
    for day in chosen:
        if paris_midnight(day + timedelta(days=1)) > now:
            raise ValueError(f"la journée du {day.isoformat()} n'est pas terminée")
    for day in chosen:  # in order: two runs locking overlapping days cannot deadlock
        session.execute(sa_select(func.pg_advisory_xact_lock(ROLLUP_LOCK_SPACE, day.toordinal())))
    if not chosen:
        return 0
    session.execute(delete(DailyRollup).where(col(DailyRollup.day).in_(chosen)))
    tallies: DayTallies = {}
    for first, end in _runs(chosen):
        tallies.update(tally_days(session, paris_midnight(first), paris_midnight(end), now))
    open_ends = open_at_ends(session, chosen)
    revs = session.execute(
        text("SELECT nextval('stats_daily_rev') FROM generate_series(1, :n)"), {"n": len(chosen)}
    ).scalars()
    rows: list[DailyRollup] = []
    for day, rev in zip(chosen, revs, strict=True):
        by_sector = {sector: tally for (when, sector), tally in tallies.items() if when == day}
        open_by_sector = open_ends[day]
        for sector in sorted(set(by_sector) | set(open_by_sector)):
            rows.append(_row(day, sector, by_sector.get(sector, Tally()), open_by_sector.get(sector, 0), now, rev))
        rows.append(_row(day, ALL_PARIS, total(by_sector.values()), sum(open_by_sector.values()), now, rev))
    session.add_all(rows)
    session.flush()
    for month in sorted({month_of(day) for day in chosen}):
        refresh_month(session, month, now)
    return len(rows)


def by_month(days: Iterable[date]) -> list[list[date]]:
    """Days grouped by month, in order: what one `roll_days` transaction should take."""
    months: dict[date, list[date]] = {}
    for day in sorted(set(days)):
        months.setdefault(month_of(day), []).append(day)
    return list(months.values())


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, [first, end) pairs."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def _row(day: date, sector: str, tally: Tally, open_count: int, now: datetime, rev: int) -> DailyRollup:
    return DailyRollup(
        day=day,
        sector=sector,
        counts=dict(sorted(tally.counts.items())),
        durations=tally.durations_json(),
        open_at_end=open_count,
        computed_at=now,
        rev=rev,
    )


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def built_from(days: list[tuple[date, int]]) -> str:
    """The identity of a set of daily rollups, as `figures` recomputes it in SQL (BUILT_FROM_SQL)."""
    return ",".join(f"{day:%Y%m%d}:{rev}" for day, rev in sorted(days))


BUILT_FROM_SQL = "string_agg(to_char(day, 'YYYYMMDD') || ':' || rev, ',' ORDER BY day)"


def refresh_month(session: Session, month: date, now: datetime) -> None:
    """Merge one month again from its daily rollups, as one statement sees them (so that the sums and the list
    of what was summed agree)."""
    sums: dict[str, Tally] = {}
    days: list[tuple[date, int]] = []
    for day, sector, counts, durations, rev in session.execute(
        text(
            "SELECT day, sector, counts, durations, rev FROM stats_daily WHERE day >= :month AND day < :end"
            " ORDER BY day, sector"
        ),
        {"month": month, "end": next_month(month)},
    ):
        sums.setdefault(sector, Tally()).add(Tally.from_json(counts, durations))
        if sector == ALL_PARIS:
            days.append((day, rev))
    table: Table = MonthlyRollup.__table__  # type: ignore[attr-defined]
    if sums:
        print_ = built_from(days)
        values: list[dict[str, Any]] = [
            {
                "month": month,
                "sector": sector,
                "counts": dict(sorted(tally.counts.items())),
                "durations": tally.durations_json(),
                "built_from": print_,
                "computed_at": now,
            }
            for sector, tally in sorted(sums.items())
        ]
        upsert = insert(table).values(values)
        session.execute(
            upsert.on_conflict_do_update(
                index_elements=["month", "sector"],
                set_={name: upsert.excluded[name] for name in ("counts", "durations", "built_from", "computed_at")},
            )
        )
    session.execute(
        text("DELETE FROM stats_monthly WHERE month = :month AND NOT (sector = ANY(:sectors))"),
        {"month": month, "sectors": sorted(sums)},
    )


def refresh_stale_months(session: Session, now: datetime) -> int:
    """Merge again every month whose merge no longer matches its daily rollups; returns how many."""
    stale = session.execute(
        text(
            f"SELECT coalesce(p.month, m.month) FROM"
            f" (SELECT date_trunc('month', day)::date AS month, {BUILT_FROM_SQL} AS built_from"
            "   FROM stats_daily WHERE sector = :all GROUP BY 1) p"
            " FULL JOIN (SELECT month, built_from FROM stats_monthly WHERE sector = :all) m ON m.month = p.month"
            " WHERE p.built_from IS DISTINCT FROM m.built_from ORDER BY 1"
        ),
        {"all": ALL_PARIS},
    ).scalars()
    months = list(stale)
    for month in months:
        refresh_month(session, month, now)
    return len(months)
