"""Handing outbox rows to the broker: right after the commit that wrote them, and from the sweep."""

from __future__ import annotations

import logging
import threading
import time

from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from services.core.db import session_scope
from services.core.models import OutboxMessage
from services.core.outbox import unpublish
from services.workers.celery_app import celery_app

log = logging.getLogger(__name__)
BROKER_ERRORS = (KombuError, RedisError, OSError)
# After a failed publish, requests stop trying for a while: the sweep publishes once the broker is back.
BREAKER_SECONDS = 5.0


class _Breaker:
    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + BREAKER_SECONDS


_breaker = _Breaker()


def send(message: OutboxMessage) -> None:
    """Publish one row's task; raises a broker error on failure."""
    celery_app.send_task(
        message.task,
        kwargs={**message.payload, "outbox_id": message.id},
        queue=message.queue,
        retry=False,
    )


def publish_after_commit(messages: list[OutboxMessage]) -> None:
    """Best effort: a failure only leaves the rows to the sweep (the signal is already safe in the database)."""
    if not messages:
        return
    if not _breaker.is_open():
        try:
            for message in messages:
                send(message)
            return
        except BROKER_ERRORS as err:
            _breaker.trip()
            log.warning("broker indisponible, publication différée au balayage : %s", err)
            error = str(err)
    else:
        error = "broker indisponible (disjoncteur ouvert)"
    with session_scope() as session:
        unpublish(session, [m.id for m in messages if m.id is not None], error)
        session.commit()
