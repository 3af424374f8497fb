"""The figures as CSV: one line per figure (and key), one column per semester shown; nothing else."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from services.core.stats.tally import DURATION_KINDS

SCALARS: tuple[str, ...] = (
    "signals_received",
    "situations_opened",
    "situations_resolved",
    "open_at_end",
    "escalations",
)
BREAKDOWNS: tuple[str, ...] = ("by_fiche", "by_source", "by_outcome", "by_sector")
DURATIONS: tuple[str, ...] = tuple(f"time_to_{kind}" for kind in DURATION_KINDS)
DURATION_FIELDS: tuple[str, ...] = ("count", "median_minutes", "p90_minutes")
DEADLINES: tuple[str, ...] = ("deadlines_met", "deadlines_due")


def lines(report: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(figure, key, value) for every figure of a report, in a fixed order ("" when a figure has no key)."""
    for name in SCALARS:
        yield name, "", report[name]
    for name in BREAKDOWNS:
        for key, value in report[name].items():
            yield name, key, value
    for name in DURATIONS:
        for field in DURATION_FIELDS:
            yield name, field, report[name][field]
    for name in DEADLINES:
        for kind in DURATION_KINDS:
            yield name, kind, report[name][kind]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(reports: Sequence[dict[str, Any]]) -> str:
    """`figure,key,<semester>…`: the first report's lines, and the same line of each other report beside."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["figure", "key", *(report["semester"] for report in reports)])
    others = [{(name, key): value for name, key, value in lines(report)} for report in reports[1:]]
    for name, key, value in lines(reports[0]):
        writer.writerow([name, key, _cell(value), *(_cell(other.get((name, key))) for other in others)])
    return out.getvalue()


def from_csv(text: str) -> dict[str, dict[tuple[str, str], str]]:
    """Semester → {(figure, key): cell}: what a reader of the CSV gets back (used by the tests)."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    return {semester: {(row[0], row[1]): row[2 + i] for row in body} for i, semester in enumerate(header[2:])}
