"""Bounded polling: tests wait for the real worker, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "",
    explain: Callable[[], str] | None = None,
) -> T:
    """`explain`, called only on a timeout, says what the failure report should show (see `pipeline_state`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            state = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"délai dépassé ({timeout} s) en attendant {what or probe}{state}")
        time.sleep(interval)


def pipeline_state() -> str:
    """Where the signals stand between the outbox, the broker and the workers: what a routing wait that timed
    out prints, so that a failure on a slow machine says which part was late."""
    from redis import Redis
    from sqlalchemy import text

    from services.core.db import get_engine
    from services.core.outbox import QUEUE_MAINTENANCE, QUEUE_NOTIFICATIONS, QUEUE_ROUTING
    from services.core.settings import get_settings

    with get_engine().connect() as connection:
        outbox = connection.execute(
            text("SELECT id, task, created_at, published_at, publish_count, done_at, last_error FROM outbox ORDER BY 1")
        ).all()
        signals = connection.execute(text("SELECT id, received_at, status FROM signals ORDER BY received_at")).all()
    client = Redis.from_url(get_settings().require_broker_url())
    try:
        queues = {q: int(client.llen(q)) for q in (QUEUE_ROUTING, QUEUE_NOTIFICATIONS, QUEUE_MAINTENANCE)}
        unacked = int(client.hlen("unacked"))
    finally:
        client.close()
    lines = [f"outbox : {tuple(row)}" for row in outbox] + [f"signal : {tuple(row)}" for row in signals]
    return "\n".join([*lines, f"broker : {queues}, non acquittés : {unacked}"])


def broker_idle() -> bool:
    """No message waiting in a queue nor taken and unacknowledged by a worker."""
    from redis import Redis

    from services.core.outbox import QUEUE_MAINTENANCE, QUEUE_NOTIFICATIONS, QUEUE_ROUTING
    from services.core.settings import get_settings

    client = Redis.from_url(get_settings().require_broker_url())
    try:
        waiting = sum(int(client.llen(queue)) for queue in (QUEUE_ROUTING, QUEUE_NOTIFICATIONS, QUEUE_MAINTENANCE))
        return waiting == 0 and int(client.hlen("unacked")) == 0
    finally:
        client.close()
