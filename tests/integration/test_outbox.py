"""Which outbox rows the relay publishes: never-published ones always; stale unfinished ones only when their
queue is empty (messages lost with the broker), never while the queue still works through a backlog.

Each test writes its rows and claims them in one transaction, rolled back: the relay of the other tests never
sees them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.models import OutboxMessage
from services.core.outbox import QUEUE_NOTIFICATIONS, QUEUE_ROUTING, claim_for_publishing

REDELIVER_AFTER = timedelta(minutes=1)


@pytest.fixture
def session() -> Iterator[Session]:
    with session_scope() as session:
        yield session
        session.rollback()


def _write(session: Session, published_minutes_ago: float | None, queue: str = QUEUE_ROUTING) -> int:
    now = utc_now()
    row = OutboxMessage(
        task="urgence.route_signal",
        queue=queue,
        payload={"signal_id": "x"},
        created_at=now - timedelta(hours=1),
        published_at=None if published_minutes_ago is None else now - timedelta(minutes=published_minutes_ago),
        publish_count=0 if published_minutes_ago is None else 1,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def _claimed(session: Session, redeliver_queues: list[str], mine: set[int]) -> dict[int, int]:
    """Claimed rows of this test → publications before this one; under a savepoint undone at once, so each call
    sees the same rows."""
    with session.begin_nested() as savepoint:
        due = claim_for_publishing(
            session, utc_now(), redeliver_after=REDELIVER_AFTER, redeliver_queues=redeliver_queues, limit=1000
        )
        savepoint.rollback()
    return {message.id: message.publish_count for message in due if message.id in mine}


def test_never_published_rows_are_claimed_whatever_the_queues(session: Session) -> None:
    fresh = _write(session, None)
    assert _claimed(session, [], {fresh}) == {fresh: 0}


def test_a_stale_row_is_published_again_only_when_its_queue_is_empty(session: Session) -> None:
    stale_routing = _write(session, published_minutes_ago=5)
    stale_alert = _write(session, published_minutes_ago=5, queue=QUEUE_NOTIFICATIONS)
    recent = _write(session, published_minutes_ago=0.1)
    mine = {stale_routing, stale_alert, recent}
    assert _claimed(session, [], mine) == {}  # every queue holds messages: a backlog, not a loss
    assert _claimed(session, [QUEUE_ROUTING], mine) == {stale_routing: 1}
    assert _claimed(session, [QUEUE_ROUTING, QUEUE_NOTIFICATIONS], mine) == {stale_routing: 1, stale_alert: 1}


def test_claiming_marks_the_rows_published(session: Session) -> None:
    fresh = _write(session, None)
    due = claim_for_publishing(session, utc_now(), redeliver_after=REDELIVER_AFTER, redeliver_queues=[], limit=1000)
    assert fresh in {message.id for message in due}
    published_at, count = session.exec(
        select(col(OutboxMessage.published_at), col(OutboxMessage.publish_count)).where(col(OutboxMessage.id) == fresh)
    ).one()
    assert published_at is not None and count == 1
