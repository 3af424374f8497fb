"""The figures of a semester, for all Paris or one sector, exact (`internal`) or with small counts hidden
(`published`): the one function behind the API, the CSV, the web page and its PDF.

Closed days are read from their rollups, and today up to the scheduler's last run from its own (`today`); what
is left (since that run, or days the task has not reached) is computed live with the same code (`tally_days`),
so rollups and live computation cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, get_args

from sqlalchemy import text
from sqlmodel import Session

from services.core.models.stats import ALL_PARIS, NO_SECTOR
from services.core.signals.schemas import Source
from services.core.situations.schemas import Outcome
from services.core.stats.histograms import add, percentile
from services.core.stats.rollups import BUILT_FROM_SQL
from services.core.stats.semesters import Semester, paris_day, paris_midnight
from services.core.stats.suppression import MARGIN, SECRET, Cell, Table, suppress
from services.core.stats.tally import DURATION_KINDS, Tally, open_at, open_now, tally_days
from services.core.stats.today import SoFar, read_today
from services.core.territory import SECTORS
from services.core.timefmt import rfc3339

VARIANTS: tuple[str, ...] = ("internal", "published")
SOURCES: tuple[str, ...] = get_args(Source)
# The reference's outcomes, in its order (others found in the data are added after them).
OUTCOMES: tuple[str, ...] = get_args(Outcome)


@dataclass(frozen=True)
class SemesterData:
    """A semester summed up to `as_of`: counters per sector (NO_SECTOR for signals outside the sectors),
    duration histograms for the scope asked for, situations open at the end per sector."""

    semester: Semester
    as_of: datetime
    sectors: dict[str, Tally]
    durations: dict[str, dict[int, int]]
    open_at_end: dict[str, int]

    @property
    def complete(self) -> bool:
        return self.as_of >= self.semester.end


def load_semester(session: Session, semester: Semester, now: datetime, *, durations_of: str | None) -> SemesterData:
    """`durations_of`: the sector whose durations to read, None for all Paris."""
    stop = min(semester.end, now)
    sectors: dict[str, Tally] = {}
    durations: dict[str, dict[int, int]] = {kind: {} for kind in DURATION_KINDS}
    if stop <= semester.start:
        return SemesterData(semester, now, sectors, durations, {})
    last_day = paris_day(stop - timedelta(microseconds=1))
    wanted = ALL_PARIS if durations_of is None else durations_of
    rolled, open_last = _read_rollups(session, semester.first_day, last_day, wanted, sectors, durations)

    def take(sector: str, tally: Tally) -> None:
        if sector != ALL_PARIS:
            sectors.setdefault(sector, Tally()).add_counts(tally.counts)
        if sector == wanted:
            for kind, hist in tally.durations.items():
                add(durations.setdefault(kind, {}), hist)

    # In progress: today is read up to the scheduler's last run, and only what came since is computed live.
    so_far = read_today(session, now, durations_of=wanted) if semester.end > now else None
    if so_far is not None:
        for sector, tally in so_far.tallies.items():
            take(sector, tally)
    for first, end in _live_gaps(session, _gaps(semester.first_day, last_day, rolled)):
        start, end_at = max(paris_midnight(first), semester.start), min(paris_midnight(end), stop)
        for live_start, live_end in _leaving_out(start, end_at, so_far):
            for (_, sector), tally in tally_days(session, live_start, live_end, now, durations_of=wanted).items():
                take(sector, tally)
    if semester.end > now:
        open_end = open_now(session)
    elif last_day in rolled:
        open_end = open_last
    else:
        open_end = open_at(session, semester.end)
    return SemesterData(semester, now, sectors, durations, open_end)


# One statement, so one snapshot: the days said to be rolled up are exactly those summed (a day rolled up
# meanwhile is then computed live, never counted twice). A month's merge is used when it was built from exactly
# the month's daily rollups within [first, last] as they are now (the month in progress too: its merge holds its
# closed days); other months are read day by day. Counts of the ALL_PARIS rows are not needed (the sectors add
# up to them), only durations.
_ROLLUPS = f"""
WITH days AS (
    SELECT day, rev FROM stats_daily WHERE sector = :all AND day >= :first AND day <= :last
), merged AS (
    SELECT m.month FROM stats_monthly m
    JOIN (SELECT date_trunc('month', day)::date AS month, {BUILT_FROM_SQL} AS built_from FROM days GROUP BY 1) p
      ON p.month = m.month AND p.built_from = m.built_from
    WHERE m.sector = :all AND m.month >= :first
), unmerged AS (  -- the other months, read day by day (through the index, only those days)
    SELECT g::date AS month
      FROM generate_series(date_trunc('month', CAST(:first AS date)), CAST(:last AS date), interval '1 month') g
     WHERE g::date NOT IN (SELECT month FROM merged)
)
SELECT 'day' AS kind, day, NULL AS sector, NULL::jsonb AS counts, NULL::jsonb AS durations, NULL::int AS open
  FROM days
UNION ALL
SELECT 'sum', m.month, m.sector, CASE WHEN m.sector <> :all THEN m.counts END,
       CASE WHEN m.sector = :wanted THEN m.durations END, NULL
  FROM stats_monthly m WHERE m.month IN (SELECT month FROM merged) AND (m.sector <> :all OR m.sector = :wanted)
UNION ALL
SELECT 'sum', d.day, d.sector, CASE WHEN d.sector <> :all THEN d.counts END,
       CASE WHEN d.sector = :wanted THEN d.durations END, NULL
  FROM unmerged u JOIN stats_daily d ON d.day >= u.month AND d.day < (u.month + interval '1 month')::date
 WHERE d.day >= :first AND d.day <= :last AND (d.sector <> :all OR d.sector = :wanted)
UNION ALL
SELECT 'open', day, sector, NULL, NULL, open_at_end FROM stats_daily WHERE day = :last AND sector <> :all
"""


def _read_rollups(
    session: Session,
    first: date,
    last: date,
    wanted: str,
    sectors: dict[str, Tally],
    durations: dict[str, dict[int, int]],
) -> tuple[set[date], dict[str, int]]:
    """Add the rolled-up days of [first, last] into `sectors` and `durations` (those of `wanted`); the days
    rolled up, and the situations open at the end of `last` by sector (when it is rolled up)."""
    rolled: set[date] = set()
    open_last: dict[str, int] = {}
    params = {"first": first, "last": last, "wanted": wanted, "all": ALL_PARIS}
    for kind, day, sector, counts, hists, open_count in session.execute(text(_ROLLUPS), params):
        if kind == "day":
            rolled.add(day)
        elif kind == "open":
            open_last[sector] = open_count
        else:
            if counts is not None:
                sectors.setdefault(sector, Tally()).add_counts(counts)
            if hists is not None:
                for duration, hist in hists.items():
                    into = durations.setdefault(duration, {})
                    for lower, n in hist.items():
                        bin_ = int(lower)
                        into[bin_] = into.get(bin_, 0) + n
    return rolled, open_last


def _live_gaps(session: Session, gaps: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """The gaps from the day of the first signal on: nothing happens before it (every situation, event and
    deadline follows a signal), which is also why the rollup task starts there. Without this, a semester
    before any data (the previous one on the dashboard) would look up its day of margin on every request."""
    if not gaps:
        return gaps
    first_signal = session.execute(text("SELECT min(received_at) FROM signals")).scalar_one()
    if first_signal is None:
        return []
    start = paris_day(first_signal)
    return [(max(first, start), end) for first, end in gaps if end > start]


def _leaving_out(start: datetime, end: datetime, so_far: SoFar | None) -> list[tuple[datetime, datetime]]:
    """[start, end) without the part of today already counted in `so_far` (from today's midnight to its
    `until`): the parts still to compute live, none empty."""
    if so_far is None:
        return [(start, end)]
    midnight = paris_midnight(paris_day(so_far.until))
    parts = [(start, min(end, midnight)), (max(start, so_far.until), end)]
    return [(first, last) for first, last in parts if first < last]


def _gaps(first: date, last: date, rolled: set[date]) -> list[tuple[date, date]]:
    """Runs of days in [first, last] without a rollup, as [start, end) day pairs."""
    gaps: list[tuple[date, date]] = []
    day = first
    while day <= last:
        if day in rolled:
            day += timedelta(days=1)
            continue
        start = day
        while day <= last and day not in rolled:
            day += timedelta(days=1)
        gaps.append((start, day))
    return gaps


@dataclass(frozen=True)
class Figures:
    """The tables every count is read from, with the cells to hide (none in the internal variant)."""

    tables: dict[str, Table]
    hidden: dict[str, set[Cell]]
    threshold: int

    def get(self, table: str, row: str, column: str) -> int | str:
        value = self.tables[table].value((row, column))
        return SECRET if (row, column) in self.hidden[table] else value

    def exact(self, table: str, row: str, column: str) -> int:
        return self.tables[table].value((row, column))


def _table(data: SemesterData, rows: Iterable[str], prefix: str, columns: tuple[str, ...]) -> Table:
    rows = tuple(rows)
    cells: dict[Cell, int] = {
        (row, column): data.sectors[column].counts.get(f"{prefix}{row}", 0)
        for row in rows
        for column in columns
        if column in data.sectors
    }
    return Table(rows, columns, cells)


def _scalar(data: SemesterData, name: str, values: dict[str, int]) -> Table:
    return Table((name,), SECTORS, {(name, sector): values.get(sector, 0) for sector in SECTORS})


def figures(data: SemesterData, *, fiche_codes: Iterable[str], variant: str, threshold: int) -> Figures:
    outcomes = list(OUTCOMES)
    for tally in data.sectors.values():
        for key in tally.counts:
            if key.startswith("outcome:") and key[8:] not in outcomes:
                outcomes.append(key[8:])
    tables = {
        "signals": _table(data, SOURCES, "source:", (*SECTORS, NO_SECTOR)),
        "opened": _table(data, fiche_codes, "fiche:", SECTORS),
        "resolved": _table(data, outcomes, "outcome:", SECTORS),
        "open_at_end": _scalar(data, "open_at_end", data.open_at_end),
    }
    for key in ("escalations", *(f"{what}:{kind}" for what in ("done", "due") for kind in DURATION_KINDS)):
        per_sector = {sector: tally.counts.get(key, 0) for sector, tally in data.sectors.items()}
        tables[key] = _scalar(data, key, per_sector)
    published = variant == "published"
    hidden = {name: suppress(table, threshold) if published else set() for name, table in tables.items()}
    return Figures(tables, hidden, threshold)


def report(
    data: SemesterData,
    *,
    sector: str | None,
    variant: str,
    threshold: int,
    fiche_codes: Iterable[str],
) -> dict[str, Any]:
    """The semester's figures as the API answers them (see the contract, "Statistics")."""
    fig = figures(data, fiche_codes=fiche_codes, variant=variant, threshold=threshold)
    column: str = MARGIN if sector is None else sector

    def scalar(name: str) -> int | str:
        return fig.get(name, name, column)

    def breakdown(table: str) -> dict[str, int | str]:
        return {str(row): fig.get(table, row, column) for row in fig.tables[table].rows}

    sectors = SECTORS if sector is None else (sector,)
    result: dict[str, Any] = {
        "semester": data.semester.code,
        "sector": sector,
        "variant": variant,
        "period": {"start": rfc3339(data.semester.start), "end": rfc3339(data.semester.end)},
        "as_of": rfc3339(data.as_of),
        "complete": data.complete,
        "threshold": threshold if variant == "published" else None,
        "signals_received": fig.get("signals", MARGIN, column),
        "situations_opened": fig.get("opened", MARGIN, column),
        "situations_resolved": fig.get("resolved", MARGIN, column),
        "open_at_end": scalar("open_at_end"),
        "escalations": scalar("escalations"),
        "by_fiche": breakdown("opened"),
        "by_source": breakdown("signals"),
        "by_outcome": breakdown("resolved"),
        "by_sector": {s: fig.get("opened", MARGIN, s) for s in sectors},
    }
    published = variant == "published"
    for kind in DURATION_KINDS:
        measured = fig.exact(f"done:{kind}", f"done:{kind}", column)
        hist = data.durations.get(kind, {})
        # Not a count, but a median of two people's waits is about those two people.
        show = not published or measured >= threshold
        result[f"time_to_{kind}"] = {
            "count": fig.get(f"done:{kind}", f"done:{kind}", column),
            "median_minutes": _minutes(percentile(hist, 0.5)) if show else None,
            "p90_minutes": _minutes(percentile(hist, 0.9)) if show else None,
        }
    met: dict[str, float | None] = {}
    due: dict[str, int | str] = {}
    for kind in DURATION_KINDS:
        due_count = fig.exact(f"due:{kind}", f"due:{kind}", column)
        met_count = _met(data, kind, sector)
        show = due_count > 0 and (not published or due_count >= threshold)
        met[kind] = round(met_count / due_count, 3) if show else None
        due[kind] = fig.get(f"due:{kind}", f"due:{kind}", column)
    result["deadlines_met"] = met
    result["deadlines_due"] = due
    return result


def _met(data: SemesterData, kind: str, sector: str | None) -> int:
    tallies = data.sectors.values() if sector is None else [data.sectors.get(sector, Tally())]
    return sum(tally.counts.get(f"met:{kind}", 0) for tally in tallies)


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def semester_report(
    session: Session,
    semester: Semester,
    *,
    sector: str | None,
    variant: str,
    now: datetime,
    threshold: int,
    fiche_codes: Iterable[str],
) -> dict[str, Any]:
    data = load_semester(session, semester, now, durations_of=sector)
    return report(data, sector=sector, variant=variant, threshold=threshold, fiche_codes=fiche_codes)
