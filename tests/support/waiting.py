"""Bounded polling: tests wait for the real worker, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"délai dépassé ({timeout} s) en attendant {what or probe}")
        time.sleep(interval)


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
