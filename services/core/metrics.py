"""What operators watch, read from the database when a scraper asks (`GET /metrics` formats it).

Figures that live in the database are read here, at scrape time, rather than counted in some process: they are
then the same whichever API process answers and however many workers there are. Each is one query on an index
(or a small table), so a scrape costs five short queries:

- outbox rows not done, per queue, and the oldest one's age: the partial index `ix_outbox_unfinished` (rows not
  done only), so the cost follows the backlog, never the history;
- open situations per lead and how many are overdue: `ix_situations_lead_open` (open ones only, holding `lead`
  and `next_deadline`: an index-only scan);
- routing latency of the signals received in the last `window` (received → routed), as histogram buckets: a
  range of `ix_signals_received_at` (at 100 signals/s and 5 minutes, 30,000 index entries);
- alert deliveries per result and dead letters: a count of two tables that grow by one row per alert and per
  abandoned task (thousands a year), not per signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from services.core.outbox import QUEUE_MAINTENANCE, QUEUE_NOTIFICATIONS, QUEUE_ROUTING

QUEUES = (QUEUE_ROUTING, QUEUE_NOTIFICATIONS, QUEUE_MAINTENANCE)
DELIVERY_RESULTS = ("pending", "delivered", "failed")
# Upper bounds (seconds) of the routing latency buckets: the goal (p99 < 250 ms) falls on one.
LATENCY_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class QueueBacklog:
    queue: str
    waiting: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class LeadLoad:
    lead: str
    open: int
    overdue: int


@dataclass(frozen=True)
class Latencies:
    """Signals received in the window and already routed: cumulative counts per bucket bound (the last is
    every one of them), and the sum of their latencies. Those not yet routed show in the routing backlog."""

    window_seconds: float
    cumulative: tuple[int, ...]  # one per LATENCY_BUCKETS, then +Inf
    sum_seconds: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


@dataclass(frozen=True)
class Operations:
    backlog: list[QueueBacklog]
    leads: list[LeadLoad]
    routing: Latencies
    deliveries: dict[str, int]  # per status: pending, delivered, failed
    dead_letters: int


_BACKLOG = text(
    "SELECT queue, count(*) AS waiting, min(created_at) AS oldest FROM outbox WHERE done_at IS NULL GROUP BY queue"
)
# The predicate of `ix_situations_lead_open`, as it is written there (the planner proves the implication).
_LEADS = text(
    "SELECT lead, count(*) AS open, count(*) FILTER (WHERE next_deadline < :now) AS overdue FROM situations "
    "WHERE status IN ('new', 'acknowledged', 'in_progress') GROUP BY lead"
)
_WITHIN = "count(*) FILTER (WHERE routed_at - received_at <= make_interval(secs => {}))"
_LATENCY = text(
    "SELECT "
    + ", ".join(_WITHIN.format(bound) for bound in LATENCY_BUCKETS)
    + ", count(*), coalesce(sum(extract(epoch FROM routed_at - received_at)), 0) "
    "FROM signals WHERE received_at >= :since AND routed_at IS NOT NULL"
)
_DELIVERIES = text("SELECT status, count(*) FROM deliveries GROUP BY status")
_DEAD_LETTERS = text("SELECT count(*) FROM dead_letters")


def read_operations(session: Session, now: datetime, *, latency_window: timedelta) -> Operations:
    connection = session.connection()
    # Every queue and every result, 0 included: a series that vanishes when all is well reads as missing.
    backlog = {queue: QueueBacklog(queue, 0, 0.0) for queue in QUEUES}
    for row in connection.execute(_BACKLOG):
        backlog[row.queue] = QueueBacklog(row.queue, int(row.waiting), max(0.0, (now - row.oldest).total_seconds()))
    leads = [LeadLoad(row.lead, int(row.open), int(row.overdue)) for row in connection.execute(_LEADS, {"now": now})]
    latency_row = connection.execute(_LATENCY, {"since": now - latency_window}).one()
    routing = Latencies(
        window_seconds=latency_window.total_seconds(),
        cumulative=tuple(int(value) for value in latency_row[:-1]),
        sum_seconds=float(latency_row[-1]),
    )
    deliveries = dict.fromkeys(DELIVERY_RESULTS, 0)
    deliveries.update({str(status): int(count) for status, count in connection.execute(_DELIVERIES)})
    dead_letters = int(connection.execute(_DEAD_LETTERS).scalar_one())
    return Operations(
        sorted(backlog.values(), key=lambda queue: queue.queue),
        sorted(leads, key=lambda load: load.lead),
        routing,
        deliveries,
        dead_letters,
    )
