"""What `urgence demo` wrote, found by its marker (`demo = true`, migration 0005), and `urgence demo --purge`.

The purge removes the demo's signals and situations and everything about them, whoever wrote it: the demo's own
events, deliveries and outbox rows, and those a running scheduler or worker added to a demo situation (an
escalation found by the real deadline scan, the alerts it caused, their dead letters). The daily rollups of the
days the demo touched are recomputed (or cleared when nothing is left for them): figures then say what they say
without it. Nothing else is touched.

The audit log is not edited: it is append-only by trigger, and a command that could erase entries would make
the trail worthless. The demo writes no entry itself (audit is written where people read and act, in the API
and the pages); entries people made while looking at demo situations stay, naming ids that no longer exist, and
the purge appends one entry saying what it removed, so that the trail explains their absence.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

from psycopg.errors import DeadlockDetected
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from services.core.models import AuditEntry
from services.core.stats.rollups import last_closed_day, refresh_stale_months, roll_day
from services.core.stats.semesters import paris_day

PURGE_ACTOR = "urgence demo --purge"
PURGE_ATTEMPTS = 5
_DEMO_SITUATIONS = "SELECT id FROM situations WHERE demo"
# Rows about the demo's situations, whoever wrote them.
_ABOUT_DEMO = f"(demo OR situation_id IN ({_DEMO_SITUATIONS}))"
# The outbox rows of the demo and those of the alerts about its situations (route rows name their signal).
_DEMO_OUTBOX = (
    "demo OR id IN (SELECT outbox_id FROM deliveries WHERE outbox_id IS NOT NULL AND "
    f"{_ABOUT_DEMO}) OR payload->>'signal_id' IN (SELECT id FROM signals WHERE demo)"
)


class PurgeRefused(ValueError):
    """The purge would have to remove real data too; the message (French) says what and why."""


@dataclass
class Purged:
    signals: int = 0
    situations: int = 0
    events: int = 0
    deliveries: int = 0
    outbox: int = 0
    dead_letters: int = 0
    days_recomputed: int = 0
    days_cleared: int = 0

    def as_dict(self) -> dict[str, int]:
        return {each.name: getattr(self, each.name) for each in fields(self)}


def real_signals(session: Session) -> int:
    """How many signals the demo did not write."""
    return int(session.execute(text("SELECT count(*) FROM signals WHERE NOT demo")).scalar_one())


def _count(session: Session, sql: str) -> int:
    return int(session.execute(text(sql)).scalar_one())


def purge(session: Session, now: datetime) -> Purged:
    """Delete what the demo wrote, in the caller's transaction (the caller commits). Raises PurgeRefused when
    real signals joined demo situations: removing those situations would remove real signals' history.

    A worker still delivering an alert about a demo situation locks its delivery, then its outbox row, which
    the purge may be deleting already: PostgreSQL then gives up one side of the deadlock. When it is the purge,
    its savepoint is rolled back (releasing what it had locked, so the worker finishes) and it starts again."""
    for attempt in range(1, PURGE_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return _purge(session, now)
        except OperationalError as err:
            if not isinstance(err.orig, DeadlockDetected) or attempt == PURGE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _purge(session: Session, now: datetime) -> Purged:
    mixed = session.execute(
        text(
            "SELECT DISTINCT s.situation_id FROM signals s JOIN situations t ON t.id = s.situation_id "
            "WHERE t.demo AND NOT s.demo ORDER BY 1 LIMIT 6"
        )
    ).scalars()
    joined = list(mixed)
    if joined:
        raise PurgeRefused(
            "des signalements réels ont rejoint des situations de la démonstration ("
            + ", ".join(joined[:5])
            + (", …" if len(joined) > 5 else "")
            + ") : rien n'a été supprimé ; traitez ou détachez ces signalements avant de relancer la purge"
        )
    first = session.execute(text("SELECT min(received_at) FROM signals WHERE demo")).scalar_one()
    gone = Purged()
    outbox = session.execute(
        text(
            f"WITH gone AS (DELETE FROM outbox WHERE {_DEMO_OUTBOX} RETURNING id), "
            "letters AS (DELETE FROM dead_letters WHERE outbox_id IN (SELECT id FROM gone) RETURNING 1) "
            "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM letters)"
        )
    ).one()
    gone.outbox, gone.dead_letters = int(outbox[0]), int(outbox[1])
    gone.deliveries = _count(
        session, f"WITH gone AS (DELETE FROM deliveries WHERE {_ABOUT_DEMO} RETURNING 1) SELECT count(*) FROM gone"
    )
    gone.events = _count(
        session, f"WITH gone AS (DELETE FROM events WHERE {_ABOUT_DEMO} RETURNING 1) SELECT count(*) FROM gone"
    )
    session.execute(text("DELETE FROM idempotency_keys WHERE signal_id IN (SELECT id FROM signals WHERE demo)"))
    gone.signals = _count(
        session, "WITH gone AS (DELETE FROM signals WHERE demo RETURNING 1) SELECT count(*) FROM gone"
    )
    gone.situations = _count(
        session, "WITH gone AS (DELETE FROM situations WHERE demo RETURNING 1) SELECT count(*) FROM gone"
    )
    if first is not None:
        gone.days_recomputed, gone.days_cleared = _recompute_rollups(session, paris_day(first), now)
        refresh_stale_months(session, now)  # the months of the days cleared too
    session.add(
        AuditEntry(
            at=now,
            actor=PURGE_ACTOR,
            principal_id="cli",
            role="admin",
            action="demo.purge",
            detail=gone.as_dict(),
        )
    )
    session.flush()
    return gone


def _recompute_rollups(session: Session, first: date, now: datetime) -> tuple[int, int]:
    """From the demo's first day on, every rolled-up day changes (counts, or situations open at its end):
    recompute those that still have data, clear those before the first remaining signal (never rolled up
    otherwise: their figures are computed live, and are zero)."""
    rolled = list(
        session.execute(text("DELETE FROM stats_daily WHERE day >= :first RETURNING day"), {"first": first}).scalars()
    )
    session.execute(text("DELETE FROM stats_today"))  # the day so far: live until the scheduler's next run
    days = sorted(set(rolled))
    remaining = session.execute(text("SELECT min(received_at) FROM signals")).scalar_one()
    if remaining is None:
        return 0, len(days)
    start, last = paris_day(remaining), last_closed_day(now)
    recomputed = [day for day in days if start <= day <= last]
    for day in recomputed:
        roll_day(session, day, now)
    return len(recomputed), len(days) - len(recomputed)


__all__ = ["PURGE_ACTOR", "PurgeRefused", "Purged", "purge", "real_signals"]
