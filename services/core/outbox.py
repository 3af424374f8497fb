"""The transactional outbox: work for the broker is written with the change that causes it (invariant 1).

A row's life: written (with `published_at` set when the writer will publish it right after its commit) →
published → done (the task that handled it says so, in its own transaction). The sweep publishes rows that
were never published, and publishes again rows published long ago but never done (a message lost with a broker,
or a crash between commit and publish): handlers are idempotent, so a second delivery changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from services.core.models import DeadLetter, OutboxMessage

# Work kinds, as the workers name their tasks.
ROUTE_SIGNAL = "urgence.route_signal"
QUEUE_ROUTING = "routing"
QUEUE_NOTIFICATIONS = "notifications"
QUEUE_MAINTENANCE = "maintenance"


def enqueue(
    session: Session, *, task: str, queue: str, payload: dict[str, Any], now: datetime, publish_now: bool
) -> OutboxMessage:
    message = OutboxMessage(
        task=task,
        queue=queue,
        payload=payload,
        created_at=now,
        published_at=now if publish_now else None,
        publish_count=1 if publish_now else 0,
    )
    session.add(message)
    return message


def unpublish(session: Session, ids: list[int], error: str) -> None:
    """The publish after commit failed (broker down): leave the rows to the sweep."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.done_at).is_(None))
        .values(published_at=None, last_error=error[:2000])
    )


def claim_due(session: Session, now: datetime, *, redeliver_after: timedelta, limit: int) -> list[OutboxMessage]:
    """Rows to publish now, locked so that concurrent sweeps share the work instead of doubling it."""
    statement = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.done_at).is_(None),
            or_(
                col(OutboxMessage.published_at).is_(None),
                col(OutboxMessage.published_at) < now - redeliver_after,
            ),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(statement))


def mark_done(session: Session, outbox_id: int | None, now: datetime) -> None:
    if outbox_id is None:
        return
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id, col(OutboxMessage.done_at).is_(None))
        .values(done_at=now)
    )


def dead_letter(
    session: Session, *, task: str, payload: dict[str, Any], error: str, now: datetime, outbox_id: int | None
) -> DeadLetter:
    """Keep a task that keeps failing for people to look at; its outbox row is finished so it stops retrying."""
    letter = DeadLetter(task=task, payload=payload, error=error[:4000], created_at=now, outbox_id=outbox_id)
    session.add(letter)
    mark_done(session, outbox_id, now)
    return letter
