"""What happened on each Paris day, per sector, straight from the tables: the one computation behind both the
rollups of closed days and the live part (today, or days not rolled up yet), so the two always agree.

Each figure is counted on the day its event happened, which is what lets closed days be frozen:
- signals by reception; situations by the reception of the signal that opened them (their opening event);
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from services.core.models.stats import NO_SECTOR
from services.core.stats.histograms import add, bin_of
from services.core.stats.semesters import paris_midnight

DURATION_KINDS: tuple[str, ...] = ("ack", "contact", "resolve")
PARIS_DAY = "(({col}) AT TIME ZONE 'Europe/Paris')::date"

# When a situation was first taken in hand, whatever the first step was.
TAKEN_AT = "LEAST(s.acknowledged_at, s.first_contact_at, s.resolved_at)"

# Situations opened, resolved, taken in hand and first contacted in [start, stop), in one statement: each
# situation concerned is found once (through the index of each instant), and the reception of the signal that
# opened it (its first `opened` event's signal, else its opening) is looked up once, by a join the planner can
# hash over a month as well as loop over a day. Routing follows reception by seconds: a day of margin on
# `opened_at` keeps its index useful for the openings.
_SITUATION_FLOWS = f"""
WITH concerned AS MATERIALIZED (
    SELECT s.id, s.sector, s.primary_fiche, s.status, s.outcome, s.opened_at, s.resolved_at,
           s.first_contact_at, {TAKEN_AT} AS taken_at
      FROM situations s
     WHERE (s.opened_at >= :start AND s.opened_at < CAST(:stop AS timestamptz) + interval '1 day')
        OR (s.resolved_at >= :start AND s.resolved_at < :stop)
        OR ({TAKEN_AT} >= :start AND {TAKEN_AT} < :stop)
        OR (s.first_contact_at >= :start AND s.first_contact_at < :stop)
), opening AS (
    SELECT DISTINCT ON (e.situation_id) e.situation_id, sg.received_at
      FROM events e JOIN signals sg ON sg.id = e.data->>'signal_id'
     WHERE e.type = 'opened' AND e.situation_id IN (SELECT id FROM concerned)
     ORDER BY e.situation_id, e.id
), s AS MATERIALIZED (
    SELECT c.*, coalesce(o.received_at, c.opened_at) AS received_at
      FROM concerned c LEFT JOIN opening o ON o.situation_id = c.id
)
SELECT 'opened', {PARIS_DAY.format(col="received_at")}, sector, primary_fiche, NULL::int, count(*) FROM s
 WHERE opened_at >= :start AND opened_at < CAST(:stop AS timestamptz) + interval '1 day'
   AND received_at >= :start AND received_at < :stop
 GROUP BY 2, 3, 4
UNION ALL
SELECT 'resolve', {PARIS_DAY.format(col="resolved_at")}, sector, coalesce(outcome, 'other'),
       floor(extract(epoch FROM resolved_at - received_at) / 60)::int, count(*) FROM s
 WHERE status = 'resolved' AND resolved_at >= :start AND resolved_at < :stop
 GROUP BY 2, 3, 4, 5
UNION ALL
SELECT 'ack', {PARIS_DAY.format(col="taken_at")}, sector, NULL,
       floor(extract(epoch FROM taken_at - received_at) / 60)::int, count(*) FROM s
 WHERE taken_at >= :start AND taken_at < :stop
 GROUP BY 2, 3, 5
UNION ALL
SELECT 'contact', {PARIS_DAY.format(col="first_contact_at")}, sector, NULL,
       floor(extract(epoch FROM first_contact_at - received_at) / 60)::int, count(*) FROM s
 WHERE first_contact_at >= :start AND first_contact_at < :stop
 GROUP BY 2, 3, 5
"""


@dataclass
class Tally:
    """Flat counters ("signals_received", "source:maraude", "fiche:FR01", "due:ack", "met:ack", …) and
    duration histograms ({"ack": {bin: count}}): everything here adds up across days."""

    counts: dict[str, int] = field(default_factory=dict)
    durations: dict[str, dict[int, int]] = field(default_factory=lambda: {kind: {} for kind in DURATION_KINDS})

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def add(self, other: Tally) -> None:
        for key, n in other.counts.items():
            self.count(key, n)
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


def tally_days(session: Session, start: datetime, stop: datetime, now: datetime) -> DayTallies:
    """(Paris day, sector) → Tally for what happened in [start, stop); deadlines only up to `now`."""
    result: DayTallies = defaultdict(Tally)
    if stop <= start:
        return result
    window = {"start": start, "stop": stop}
    # The correlated look-ups are costed far above what they take: JIT would compile for 60 ms per statement
    # to save none (for the rest of this transaction only).
    session.execute(text("SET LOCAL jit = off"))

    for day, sector, source, n in session.execute(
        text(
            f"SELECT {PARIS_DAY.format(col='received_at')}, coalesce(sector, :none), source, count(*)"
            " FROM signals WHERE received_at >= :start AND received_at < :stop GROUP BY 1, 2, 3"
        ),
        {**window, "none": NO_SECTOR},
    ):
        tally = result[(day, sector)]
        tally.count("signals_received", n)
        tally.count(f"source:{source}", n)

    for what, day, sector, key, minutes, n in session.execute(text(_SITUATION_FLOWS), window):
        tally = result[(day, sector)]
        if what == "opened":
            tally.count("situations_opened", n)
            tally.count(f"fiche:{key}", n)
            continue
        if what == "resolve":
            tally.count("situations_resolved", n)
            tally.count(f"outcome:{key}", n)
        tally.count(f"done:{what}", n)
        _record_duration(tally, what, minutes, n)

    for day, sector, n in session.execute(
        text(
            f"SELECT {PARIS_DAY.format(col='e.at')}, s.sector, count(*)"
            " FROM events e JOIN situations s ON s.id = e.situation_id"
            " WHERE e.type = 'escalated' AND e.at >= :start AND e.at < :stop GROUP BY 1, 2"
        ),
        window,
    ):
        result[(day, sector)].count("escalations", n)

    due_window = {"start": start, "stop": min(stop, now)}
    steps = (("ack", "ack_due", TAKEN_AT), ("contact", "contact_due", "s.first_contact_at"))
    for kind, due, done in (*steps, ("resolve", "resolve_due", "s.resolved_at")):
        for day, sector, due_count, met in session.execute(
            text(
                f"SELECT {PARIS_DAY.format(col=f's.{due}')}, s.sector, count(*),"
                f" count(*) FILTER (WHERE {done} <= s.{due})"
                f" FROM situations s WHERE s.{due} >= :start AND s.{due} < :stop AND s.status <> 'merged'"
                " GROUP BY 1, 2"
            ),
            due_window,
        ):
            tally = result[(day, sector)]
            tally.count(f"due:{kind}", due_count)
            tally.count(f"met:{kind}", met)
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
