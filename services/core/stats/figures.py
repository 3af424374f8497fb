"""The figures of a semester, for all Paris or one sector, exact (`internal`) or with small counts hidden
(`published`): the one function behind the API, the CSV, the web page and its PDF.

Closed days are read from their rollups; days without one (today, or days the task has not reached) are
computed live with the same code (`tally_days`), so rollups and live computation cannot disagree.
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
from services.core.stats.semesters import Semester, paris_day, paris_midnight
from services.core.stats.suppression import MARGIN, SECRET, Cell, Table, suppress
from services.core.stats.tally import DURATION_KINDS, Tally, open_at, open_now, tally_days
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
    window = {"first": semester.first_day, "last": last_day, "wanted": wanted, "all": ALL_PARIS}
    # Summed by PostgreSQL (jsonb_each in C), not row by row here: a few hundred numbers come back.
    rolled: set[date] = set(
        session.execute(
            text("SELECT day FROM stats_daily WHERE sector = :all AND day >= :first AND day <= :last"), window
        ).scalars()
    )
    for row_sector, key, n in session.execute(
        text(
            "SELECT r.sector, c.key, sum(c.value::bigint) FROM stats_daily r, jsonb_each_text(r.counts) c"
            " WHERE r.day >= :first AND r.day <= :last AND r.sector <> :all GROUP BY 1, 2"
        ),
        window,
    ):
        sectors.setdefault(row_sector, Tally()).count(key, int(n))
    for kind, lower, n in session.execute(
        text(
            "SELECT d.key, b.key, sum(b.value::bigint) FROM stats_daily r, jsonb_each(r.durations) d,"
            " jsonb_each_text(d.value) b WHERE r.day >= :first AND r.day <= :last AND r.sector = :wanted"
            " GROUP BY 1, 2"
        ),
        window,
    ):
        add(durations.setdefault(kind, {}), {int(lower): int(n)})
    open_last: dict[str, int] = dict(
        session.execute(
            text("SELECT sector, open_at_end FROM stats_daily WHERE day = :last AND sector <> :all"), window
        ).all()
    )
    for first, end in _gaps(semester.first_day, last_day, rolled):
        live = tally_days(session, max(paris_midnight(first), semester.start), min(paris_midnight(end), stop), now)
        for (_, sector), tally in live.items():
            sectors.setdefault(sector, Tally()).add(Tally(counts=tally.counts))
            if durations_of is None or sector == durations_of:
                for kind, hist in tally.durations.items():
                    add(durations.setdefault(kind, {}), hist)
    if semester.end > now:
        open_end = open_now(session)
    elif last_day in rolled:
        open_end = open_last
    else:
        open_end = open_at(session, semester.end)
    return SemesterData(semester, now, sectors, durations, open_end)


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
