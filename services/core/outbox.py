"""The transactional outbox: work for the broker is written with the change that causes it (invariant 1).

A row's life: written → published (by the relay, `services/workers/relay.py`, woken by the commit) → done (the
task that handled it says so, in its own transaction). Rows published long ago but never done are published
again (a message lost with a broker, a crash between publish and mark): handlers are idempotent, so a second
delivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, TextClause, and_, bindparam, insert, or_, text, true, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from services.core.logs import current_correlation_id
from services.core.models import DeadLetter, OutboxMessage

# Every task's name, here once: core writes the outbox ones (and names the scan's dead letters), the workers'
# registry (`services/workers/registry.py`) binds each to its queue, its code and its give-up.
ROUTE_SIGNAL = "urgence.route_signal"
# Not an outbox row's task: the relay's message for a batch of ROUTE_SIGNAL rows (one publish, one transaction).
ROUTE_SIGNALS = "urgence.route_signals"
# Signals per `route_signals` message, which a worker orients in one transaction: a burst goes as several
# messages that several workers share, and a message's cost stays that of one transaction, whatever the load.
SIGNALS_PER_MESSAGE = 25
DELIVER_ALERT = "urgence.deliver_alert"
SCAN_DEADLINES = "urgence.scan_deadlines"
ROLLUP_CLOSED_DAYS = "urgence.rollup_closed_days"
ROLLUP_TODAY = "urgence.rollup_today"
ERASE_EXPIRED = "urgence.erase_expired_personal_data"
QUEUE_ROUTING = "routing"
QUEUE_NOTIFICATIONS = "notifications"
QUEUE_MAINTENANCE = "maintenance"
# Writers notify this channel in their transaction; PostgreSQL delivers it at commit, waking the relay.
NOTIFY_CHANNEL = "outbox"


def enqueue_statement(before: str | None = None, *, also_select: str = "") -> TextClause:
    """The SQL that writes one outbox row and wakes the relay, returning the row's id. `before`, the SQL of
    another data-modifying statement, runs in the same statement: a write and the work it causes in one round
    trip, atomic on their own. `also_select`: more columns to return (a read the caller needs, in the same trip).
    Binds `task`, `queue`, `outbox_payload`, `created_at` (and those of `before`). The row keeps the current
    correlation id (`logs.py`), read when the statement runs: the relay hands it to the task, which logs under
    the id of the request that caused it."""
    written = f"WITH written AS ({before}), " if before else "WITH "
    extra = f", {also_select}" if also_select else ""
    return text(
        written + f"queued AS (INSERT INTO {OutboxMessage.__tablename__} "
        "(task, queue, payload, correlation_id, created_at, publish_count) "
        "VALUES (:task, :queue, :outbox_payload, :correlation_id, :created_at, 0) RETURNING id) "
        f"SELECT id, pg_notify(:channel, ''){extra} FROM queued"
    ).bindparams(
        bindparam("outbox_payload", type_=JSONB),
        bindparam("channel", NOTIFY_CHANNEL),
        bindparam("correlation_id", callable_=current_correlation_id, type_=String),
    )


_ENQUEUE = enqueue_statement()


def enqueue(session: Session, *, task: str, queue: str, payload: dict[str, Any], now: datetime) -> int:
    """Write work for the broker in the caller's transaction and return its row id; the relay publishes it once
    the transaction commits."""
    values = {"task": task, "queue": queue, "outbox_payload": payload, "created_at": now}
    return int(session.connection().execute(_ENQUEUE, values).scalar_one())


@dataclass(frozen=True)
class Due:
    """An outbox row to publish now, already marked published in the claiming transaction."""

    id: int
    task: str
    queue: str
    payload: dict[str, Any]
    publish_count: int  # publications before this one
    correlation_id: str | None = None  # of the request (or task) that wrote the row


def claim_for_publishing(
    session: Session,
    now: datetime,
    *,
    redeliver_after: timedelta,
    redeliver_queues: Collection[str],
    limit: int,
    held_queues: Collection[str] = (),
) -> list[Due]:
    """Claim the rows to publish now and mark them published, in one statement: those never published, and
    those published more than `redeliver_after` ago but not done whose queue is in `redeliver_queues` (the
    caller's idea of queues that have lost messages: empty ones. A queue still holding messages is working
    through a backlog, and publishing its old rows again would only feed it copies). The rows stay locked until
    the caller's transaction ends, so concurrent relays share the work instead of doubling it; if publishing
    fails, rolling back unmarks them. Rows of `held_queues` stay where they are for now (their queue is busy at
    the broker: they wait here, to go later in bigger batches)."""
    held = col(OutboxMessage.queue).not_in(sorted(held_queues)) if held_queues else true()
    due = (
        select(col(OutboxMessage.id))
        .where(
            col(OutboxMessage.done_at).is_(None),
            held,
            or_(
                col(OutboxMessage.published_at).is_(None),
                and_(
                    col(OutboxMessage.published_at) < now - redeliver_after,
                    col(OutboxMessage.queue).in_(sorted(redeliver_queues)),
                ),
            ),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = session.connection().execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(due.scalar_subquery()))
        .values(published_at=now, publish_count=OutboxMessage.publish_count + 1)
        .returning(
            col(OutboxMessage.id),
            col(OutboxMessage.task),
            col(OutboxMessage.queue),
            col(OutboxMessage.payload),
            col(OutboxMessage.publish_count),
            col(OutboxMessage.correlation_id),
        )
    )
    rows = sorted(claimed, key=lambda row: row.id)
    return [Due(row.id, row.task, row.queue, row.payload, row.publish_count - 1, row.correlation_id) for row in rows]


def _unfinished(outbox_id: int, item: Mapping[str, str] | None) -> ColumnElement[bool]:
    """The row `outbox_id`, not yet done, and (with `item`) written for that very item: a message naming
    someone else's row never finishes it."""
    where = and_(col(OutboxMessage.id) == outbox_id, col(OutboxMessage.done_at).is_(None))
    for key, value in (item or {}).items():
        where = and_(where, OutboxMessage.payload[key].astext == value)
    return where


def mark_done(session: Session, outbox_id: int | None, now: datetime, *, item: Mapping[str, str] | None = None) -> bool:
    """Finish the row; False when it was finished already (by another copy of its message, or a give-up)."""
    if outbox_id is None:
        return True
    # On the connection: a plain UPDATE, without the ORM's bookkeeping for objects it may have loaded.
    finished = session.connection().execute(
        update(OutboxMessage).where(_unfinished(outbox_id, item)).values(done_at=now)
    )
    return finished.rowcount == 1


def mark_all_done(session: Session, outbox_ids: Collection[int], now: datetime) -> None:
    """Finish several rows in one statement (those finished already stay as they are)."""
    if not outbox_ids:
        return
    session.connection().execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(sorted(set(outbox_ids))), col(OutboxMessage.done_at).is_(None))
        .values(done_at=now)
    )


def mark_retrying(
    session: Session, outbox_id: int | None, now: datetime, error: str, *, item: Mapping[str, str] | None = None
) -> None:
    """A retry of this row's task is on its way: the sweep need not publish it again before it comes."""
    if outbox_id is None:
        return
    session.connection().execute(
        update(OutboxMessage).where(_unfinished(outbox_id, item)).values(published_at=now, last_error=error[:2000])
    )


def dead_letter(
    session: Session, *, task: str, payload: dict[str, Any], error: str, now: datetime, outbox_id: int | None
) -> None:
    """Keep a task that kept failing for people to look at (the caller finishes its outbox row: `mark_done`).
    A plain INSERT: writing it never depends on loading anything."""
    session.connection().execute(
        insert(DeadLetter).values(task=task, payload=payload, error=error[:4000], created_at=now, outbox_id=outbox_id)
    )
