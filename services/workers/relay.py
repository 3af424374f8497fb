"""The outbox relay: hands outbox rows to the broker right after the commits that wrote them.

Writers send `NOTIFY outbox` in their transaction (delivered at commit); the relay, listening, wakes up at
once, claims the due rows (`FOR UPDATE SKIP LOCKED`, so several relays share the work without doubling it),
publishes them in a batch and marks them published. When no notification comes it still looks every
`outbox_sweep_seconds`: that sweep catches rows whose notification was missed and rows published long ago but
never finished (a broker that lost its messages). The API never talks to the broker: a broker outage delays
work, never an answer.

One row never stops the others: a row published `outbox_max_attempts` times without being finished, or whose
message cannot even be built, is given up on its own (`runner.abandon`: its own transactions, a dead letter,
its item flagged) after the batch is committed; only the broker or the database being out of reach stops a
batch (it rolls back, and is tried again).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from kombu.exceptions import EncodeError, KombuError
from kombu.messaging import Producer
from redis.exceptions import RedisError

from services.core.clock import utc_now
from services.core.db import session_scope, sqlalchemy_url
from services.core.outbox import (
    NOTIFY_CHANNEL,
    QUEUE_ROUTING,
    ROUTE_SIGNAL,
    ROUTE_SIGNALS,
    SIGNALS_PER_MESSAGE,
    Due,
    claim_for_publishing,
)
from services.core.settings import get_settings
from services.workers.celery_app import QUEUES, celery_app
from services.workers.heartbeat import relay_heartbeat
from services.workers.registry import correlation_kwargs
from services.workers.runner import abandon

log = logging.getLogger(__name__)
BATCH = 500
BROKER_ERRORS = (KombuError, RedisError, OSError)
MAX_PAUSE_SECONDS = 10.0
# The longest the relay sleeps without looking: also how fast it notices `stop()`.
MAX_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class Published:
    """What one `publish_due` did: rows handled, and whether routing rows were held back (the relay then looks
    again soon, not at a notification: those rows' notifications have come already)."""

    handled: int
    holding: bool


def publish_due(*, hold_routing: bool = True) -> Published:
    """Publish one batch of due rows and say how many were handled. A broker error leaves the whole batch
    unpublished (its transaction rolls back) and propagates; a row that cannot be published, or was published
    too often, is given up on by itself. While the broker still holds routing messages nobody has taken, routing
    rows wait in the outbox (`held`): the workers are busy, and what waits goes in bigger batches once they are
    free, which is what lets routing keep up with a burst."""
    settings = get_settings()
    now = utc_now()
    redeliver_after = timedelta(seconds=settings.outbox_redeliver_seconds)
    given_up: list[tuple[Due, str]] = []
    with session_scope() as session, celery_app.producer_or_acquire() as producer:
        lengths = _queue_lengths(producer)
        held = [QUEUE_ROUTING] if hold_routing and lengths[QUEUE_ROUTING] > 0 else []
        due = claim_for_publishing(
            session,
            now,
            redeliver_after=redeliver_after,
            redeliver_queues=[queue for queue, length in lengths.items() if length == 0],
            limit=BATCH,
            held_queues=held,
        )
        if not due:
            return Published(0, bool(held))
        batch: list[Due] = []
        for message in due:
            if message.publish_count >= settings.outbox_max_attempts:
                given_up.append((message, f"toujours pas traité après {message.publish_count} publications"))
            elif _batchable(message):
                batch.append(message)
            else:
                given_up.extend(_publish(producer, message))
        for start in range(0, len(batch), SIGNALS_PER_MESSAGE):
            _publish_batch(producer, batch[start : start + SIGNALS_PER_MESSAGE])
        session.commit()
    for message, error in given_up:
        _give_up(message, error, now)
    return Published(len(due), bool(held))


def _batchable(message: Due) -> bool:
    """A well-formed `route_signal` row: it travels in a batch. Any other row (another task, or a payload that is
    not just a signal id) is published alone, its own way, and a bad one is given up on by itself."""
    return (
        message.task == ROUTE_SIGNAL
        and isinstance(message.payload, dict)
        and message.payload.keys() == {"signal_id"}
        and isinstance(message.payload["signal_id"], str)
    )


def _task_kwargs(message: Due) -> dict[str, Any]:
    """What the task receives for a row: its payload, the id of the request that wrote it, its outbox id."""
    return {**message.payload, **correlation_kwargs(message.correlation_id), "outbox_id": message.id}


def _publish(producer: Producer, message: Due) -> list[tuple[Due, str]]:
    """One row, one message; what to give up on if this row's message cannot be built."""
    try:
        celery_app.send_task(
            message.task,
            kwargs=_task_kwargs(message),
            queue=message.queue,
            producer=producer,
            retry=False,
        )
    except (EncodeError, TypeError, ValueError) as err:  # this row's message, not the broker
        return [(message, f"message impossible à publier : {type(err).__name__}: {err}")]
    return []


def _publish_batch(producer: Producer, rows: list[Due]) -> None:
    """Signals to orient, one message for the lot (`urgence.route_signals`): one publish, and one transaction at
    the worker. Each row keeps its outbox id and correlation id, and goes its own way if the batch fails."""
    items = [_task_kwargs(message) for message in rows]
    celery_app.send_task(ROUTE_SIGNALS, kwargs={"items": items}, queue=QUEUE_ROUTING, producer=producer, retry=False)


def _give_up(message: Due, error: str, now: datetime) -> None:
    """Published again and again, never finished: a dead letter, and the item it was for says so. A failure here
    is this row's alone: logged, and the row comes back at a later sweep (it stays unfinished)."""
    try:
        abandon(message.task, message.payload, error, outbox_id=message.id, now=now)
    except Exception:
        log.exception("abandon impossible de la ligne d'outbox %s, nouvel essai plus tard", message.id)


def _queue_lengths(producer: Producer) -> dict[str, int]:
    """Messages waiting at the broker, by queue (a Redis list per queue, kombu's layout). An empty queue's
    unfinished rows may have been lost, and may be published again; a routing queue with messages still waiting
    holds the routing rows back."""
    with producer.channel.client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.llen(queue)
        lengths = pipe.execute()
    return dict(zip(QUEUES, (int(length) for length in lengths), strict=True))


def _routing_waiting() -> int:
    with celery_app.producer_or_acquire() as producer:
        return int(producer.channel.client.llen(QUEUE_ROUTING))


HOLD_POLL_SECONDS = 0.01
# After a notification, how long the relay waits for the commits right behind it (a few milliseconds added to a
# lone signal's routing; at a city's steady rate, several signals per publication, message and transaction).
LINGER_SECONDS = 0.025


class Relay:
    """Runs until `stop()`: publish what is due, then wait for a commit's notification or the sweep."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._pause = 0.5  # after a failure; doubles up to MAX_PAUSE_SECONDS, back to 0.5 once connected
        self._heartbeat = relay_heartbeat()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen_and_publish()
            except BROKER_ERRORS as err:
                log.warning("broker injoignable, nouvel essai dans %.1f s : %s", self._pause, err)
            except psycopg.Error as err:
                log.warning("base injoignable, nouvel essai dans %.1f s : %s", self._pause, err)
            except Exception:
                log.exception("erreur du relais de l'outbox, nouvel essai dans %.1f s", self._pause)
            self._stopping.wait(self._pause)
            self._pause = min(self._pause * 2, MAX_PAUSE_SECONDS)

    def _hold(self) -> None:
        """Routing rows are held back: look (a Redis LLEN, nothing in the database) until the workers have taken
        every routing message, at most MAX_WAIT_SECONDS (then publish the other queues' rows, and look again)."""
        until = time.monotonic() + MAX_WAIT_SECONDS
        while not self._stopping.is_set() and time.monotonic() < until and _routing_waiting() > 0:
            self._stopping.wait(HOLD_POLL_SECONDS)

    def _listen_and_publish(self) -> None:
        settings = get_settings()
        url = sqlalchemy_url(settings.require_database_url()).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._pause = 0.5
            waited = 0.0
            holding = False
            while not self._stopping.is_set():
                self._heartbeat.beat()  # for /health, throttled
                if waited == 0.0 or waited >= settings.outbox_sweep_seconds:
                    published = publish_due()
                    while published.handled == BATCH:  # more is waiting: keep going before sleeping
                        published = publish_due()
                    holding, waited = published.holding, 0.0
                if holding:
                    self._hold()
                    # The notifications that came meanwhile are for rows the next publish takes anyway.
                    for _ in listener.notifies(timeout=0):
                        pass
                    waited = 0.0
                    continue
                wait = min(settings.outbox_sweep_seconds, MAX_WAIT_SECONDS)
                woken = any(True for _ in listener.notifies(timeout=wait, stop_after=1))
                if woken:  # the commits right behind this one go in the same publication (LINGER_SECONDS)
                    self._stopping.wait(LINGER_SECONDS)
                    for _ in listener.notifies(timeout=0):
                        pass
                waited = 0.0 if woken else waited + wait
