"""What happened on each Paris day, per sector, straight from the tables: the one computation behind both the
rollups of closed days and the live part (today, or days not rolled up yet), so the two always agree.

Each figure is counted on the day its event happened, which is what lets closed days be frozen:
- signals by reception; situations by the reception of the signal that opened them (`opening_received_at`);
- resolutions, outcomes and `time_to_resolve` on the day of the resolution in force;
- `time_to_ack` on the day the situation was first taken in hand (acknowledged, contacted or resolved,
  whichever came first), `time_to_contact` on the day of the first contact; durations are measured from the
  reception of the opening signal, like the deadlines;
- escalations on the day of their event;
- deadlines on the day they fall due (and only once due): met when the step was done at or before it.
  Situations merged into another are left out of deadlines (their handling goes on in the other one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from services.core.models.stats import ALL_PARIS, NO_SECTOR
from services.core.stats.histograms import BIN_LOWERS, add, bin_of
from services.core.stats.semesters import paris_midnight

DURATION_KINDS: tuple[str, ...] = ("ack", "contact", "resolve")
PARIS_DAY = "(({col}) AT TIME ZONE 'Europe/Paris')::date"

# When a situation was first taken in hand, whatever the first step was.
TAKEN_AT = "LEAST(s.acknowledged_at, s.first_contact_at, s.resolved_at)"

# A step's duration, from the reception of the signal that opened the situation (kept on it by the routing) to
# `{done}`, in whole minutes, put in its histogram bin (`bins.lowers`: BIN_LOWERS) so that fewer rows leave the
# database.
_BIN = "bins.lowers[width_bucket(greatest(floor(extract(epoch FROM {done} - s.opening_received_at) / 60)::int, 0),"
_BIN += " bins.lowers)]"
# Whose durations a row counts in: each sector's, or only those of one scope (all Paris, or one sector).
_SCOPE = """CASE WHEN CAST(:durations_of AS text) IS NULL THEN s.sector WHEN :durations_of = :all THEN :all
                 WHEN s.sector = :durations_of THEN s.sector END"""


def _step(what: str, done: str, key: str, where: str) -> str:
    """A step's counts by day (of `done`), sector and `key`, and its durations by day, scope and bin."""
    return f"""
SELECT '{what}', day, coalesce(sector, scope), key, minutes, count(*), NULL FROM (
    SELECT {PARIS_DAY.format(col=done)} AS day, s.sector, {key} AS key, {_BIN.format(done=done)} AS minutes,
           {_SCOPE} AS scope
      FROM situations s CROSS JOIN bins WHERE {where}) steps
 GROUP BY GROUPING SETS ((day, sector, key), (day, scope, minutes))
HAVING GROUPING(minutes) = 1 OR scope IS NOT NULL"""


def _due(kind: str, due: str, done: str) -> str:
    """The deadlines of a kind falling due in [start, due_stop), and those met."""
    return f"""
SELECT 'due', {PARIS_DAY.format(col=f"s.{due}")}, s.sector, '{kind}', NULL, count(*),
       count(*) FILTER (WHERE {done} <= s.{due})
  FROM situations s WHERE s.{due} >= :start AND s.{due} < :due_stop AND s.status <> 'merged'
 GROUP BY 2, 3"""


# Everything that happened in [start, stop), in one statement, each part through the index of its own instant:
# signals by reception; situations opened (on the day of their opening signal's reception), resolved, taken in
# hand and first contacted; escalations; deadlines falling due. Rows: (what, day, sector, key, minutes, n, met).
_PARTS = (
    f"""
SELECT 'signals', {PARIS_DAY.format(col="received_at")}, coalesce(sector, :none), source, NULL::int, count(*),
       NULL::bigint
  FROM signals WHERE received_at >= :start AND received_at < :stop
 GROUP BY 2, 3, 4""",
    f"""
SELECT 'opened', {PARIS_DAY.format(col="s.opening_received_at")}, s.sector, s.primary_fiche, NULL, count(*), NULL
  FROM situations s WHERE s.opening_received_at >= :start AND s.opening_received_at < :stop
 GROUP BY 2, 3, 4""",
    _step(
        "resolve",
        "s.resolved_at",
        "coalesce(s.outcome, 'other')",
        "s.status = 'resolved' AND s.resolved_at >= :start AND s.resolved_at < :stop",
    ),
    _step("ack", TAKEN_AT, "NULL::text", f"{TAKEN_AT} >= :start AND {TAKEN_AT} < :stop"),
    _step("contact", "s.first_contact_at", "NULL::text", "s.first_contact_at >= :start AND s.first_contact_at < :stop"),
    f"""
SELECT 'escalated', {PARIS_DAY.format(col="e.at")}, s.sector, NULL, NULL, count(*), NULL
  FROM events e JOIN situations s ON s.id = e.situation_id
 WHERE e.type = 'escalated' AND e.at >= :start AND e.at < :stop
 GROUP BY 2, 3""",
    _due("ack", "ack_due", TAKEN_AT),
    _due("contact", "contact_due", "s.first_contact_at"),
    _due("resolve", "resolve_due", "s.resolved_at"),
)
_BIN_LOWERS_SQL = "'{" + ",".join(map(str, BIN_LOWERS)) + "}'::int[]"  # written once, not bound at each call
_DAYS = f"WITH bins AS (SELECT {_BIN_LOWERS_SQL} AS lowers)" + "\nUNION ALL".join(_PARTS)


@dataclass
class Tally:
    """Flat counters ("signals_received", "source:maraude", "fiche:FR01", "due:ack", "met:ack", …) and
    duration histograms ({"ack": {bin: count}}): everything here adds up across days."""

    counts: dict[str, int] = field(default_factory=dict)
    durations: dict[str, dict[int, int]] = field(default_factory=lambda: {kind: {} for kind in DURATION_KINDS})

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def add_counts(self, counts: Mapping[str, int]) -> None:
        mine = self.counts  # as `count` does for each, without a call per key (a semester sums thousands)
        for key, n in counts.items():
            if n:
                mine[key] = mine.get(key, 0) + n

    def add(self, other: Tally) -> None:
        self.add_counts(other.counts)
        for kind, hist in other.durations.items():
            add(self.durations.setdefault(kind, {}), hist)

    def durations_json(self) -> dict[str, dict[str, int]]:
        return {kind: {str(lower): n for lower, n in sorted(hist.items())} for kind, hist in self.durations.items()}

    @classmethod
    def from_json(cls, counts: dict[str, Any], durations: dict[str, Any]) -> Tally:
        tally = cls(counts={key: int(n) for key, n in counts.items()})
        for kind, hist in durations.items():
            tally.durations[kind] = {int(lower): int(n) for lower, n in hist.items()}
        return tally


def total(tallies: Iterable[Tally]) -> Tally:
    result = Tally()
    for tally in tallies:
        result.add(tally)
    return result


DayTallies = dict[tuple[date, str], Tally]


def tally_days(
    session: Session, start: datetime, stop: datetime, now: datetime, *, durations_of: str | None = None
) -> DayTallies:
    """(Paris day, sector) → Tally for what happened in [start, stop); deadlines only up to `now`. Durations are
    each sector's (what rollups keep), or with `durations_of` only those of that scope (ALL_PARIS: all the
    sectors together, or one sector), under (day, durations_of): all a report reads, in far fewer rows."""
    result: DayTallies = defaultdict(Tally)
    if stop <= start:
        return result
    # Over a month the plan is costed far above what it takes: JIT would compile for 60 ms to save none (for
    # the rest of this transaction only).
    session.execute(text("SET LOCAL jit = off"))
    params = {
        "start": start,
        "stop": stop,
        "due_stop": min(stop, now),
        "durations_of": durations_of,
        "all": ALL_PARIS,
        "none": NO_SECTOR,
    }
    for what, day, sector, key, minutes, n, met in session.execute(text(_DAYS), params).all():
        tally = result[(day, sector)]
        if what == "signals":
            tally.count("signals_received", n)
            tally.count(f"source:{key}", n)
        elif what == "opened":
            tally.count("situations_opened", n)
            tally.count(f"fiche:{key}", n)
        elif what == "escalated":
            tally.count("escalations", n)
        elif what == "due":
            tally.count(f"due:{key}", n)
            tally.count(f"met:{key}", met)
        elif minutes is not None:
            _record_duration(tally, what, minutes, n)
        else:
            if what == "resolve":
                tally.count("situations_resolved", n)
                tally.count(f"outcome:{key}", n)
            tally.count(f"done:{what}", n)
    return result


def _record_duration(tally: Tally, kind: str, minutes: int | None, n: int) -> None:
    if minutes is None:
        return
    hist = tally.durations.setdefault(kind, {})
    lower = bin_of(max(minutes, 0))
    hist[lower] = hist.get(lower, 0) + n


def open_at(session: Session, instant: datetime) -> dict[str, int]:
    """Sector → situations open at `instant`: opened before it, neither resolved nor merged before it.
    (A merged situation's last change is its merge.)"""
    rows = session.execute(
        text(
            "SELECT sector, count(*) FROM situations"
            " WHERE opened_at < :at"
            " AND NOT (status = 'resolved' AND resolved_at < :at)"
            " AND NOT (status = 'merged' AND updated_at < :at)"
            " GROUP BY sector"
        ),
        {"at": instant},
    )
    return {sector: n for sector, n in rows}


def open_at_ends(session: Session, days: list[date]) -> dict[date, dict[str, int]]:
    """For each day, sector → situations open at the end of it, as `open_at` counts them, in one pass over the
    situations for all the days: those opened by then, less those closed by then (a situation opened before
    an instant and not closed before it is one opened before it, unless it was both opened and closed before
    it: closed by the later of the two instants)."""
    if not days:
        return {}
    last = max(days)
    opened: dict[str, dict[date, int]] = defaultdict(dict)
    closed: dict[str, dict[date, int]] = defaultdict(dict)
    for sector, opened_day, closed_day, is_opened, n in session.execute(
        text(
            f"SELECT sector, od, cd, GROUPING(od) = 0, count(*) FROM ("
            f"  SELECT sector, {PARIS_DAY.format(col='opened_at')} AS od,"
            f"   CASE status WHEN 'resolved' THEN {PARIS_DAY.format(col='greatest(opened_at, resolved_at)')}"
            f"   WHEN 'merged' THEN {PARIS_DAY.format(col='greatest(opened_at, updated_at)')} END AS cd"
            "  FROM situations WHERE opened_at < :end) s"
            " GROUP BY GROUPING SETS ((sector, od), (sector, cd))"
        ),
        {"end": paris_midnight(last + timedelta(days=1))},
    ):
        if is_opened:
            opened[sector][opened_day] = n
        elif closed_day is not None:
            closed[sector][closed_day] = n
    result: dict[date, dict[str, int]] = {}
    for day in days:
        counts: dict[str, int] = {}
        for sector in opened:
            n = sum(k for d, k in opened[sector].items() if d <= day)
            n -= sum(k for d, k in closed.get(sector, {}).items() if d <= day)
            if n:
                counts[sector] = n
        result[day] = counts
    return result


def open_now(session: Session) -> dict[str, int]:
    """Sector → situations open now (the queues' partial index answers this)."""
    rows = session.execute(
        text(
            "SELECT sector, count(*) FROM situations"
            " WHERE status IN ('new', 'acknowledged', 'in_progress') GROUP BY sector"
        )
    )
    return {sector: n for sector, n in rows}
