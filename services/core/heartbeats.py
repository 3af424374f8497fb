"""Heartbeats: each long-running component says "alive at T", `/health` reads who has gone silent.

Kept in the broker (Redis), one key per component with the wall-clock time of its last beat, and not in
PostgreSQL: a heartbeat is throw-away state (no migration, no WAL nor dead rows written every few seconds by
every process), each beat is one `SET`, and `/health` reads them all with one `MGET`. The key's TTL only
cleans up after components that are gone for good; silence is judged from the stored time, so that `/health`
can say for how long a component has been quiet. A broker restart that lost the keys costs one beat interval.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from services.core.outbox import QUEUE_MAINTENANCE, QUEUE_NOTIFICATIONS, QUEUE_ROUTING

log = logging.getLogger(__name__)

RELAY = "relay"
SCHEDULER = "scheduler"
KEY_PREFIX = "urgence:heartbeat:"
KEY_TTL_SECONDS = 3600


def worker_component(queue: str) -> str:
    """The component name of the workers of one queue (several workers beat the same key: any one will do)."""
    return f"workers.{queue}"


# What `/health` expects to hear from, in the order it lists them.
COMPONENTS = (
    RELAY,
    worker_component(QUEUE_ROUTING),
    worker_component(QUEUE_NOTIFICATIONS),
    worker_component(QUEUE_MAINTENANCE),
    SCHEDULER,
)


def record_beat(client: Redis, components: list[str], now: float) -> None:
    """Record that `components` are alive at `now` (seconds since the epoch)."""
    with client.pipeline(transaction=False) as pipe:
        for component in components:
            pipe.set(KEY_PREFIX + component, repr(now), ex=KEY_TTL_SECONDS)
        pipe.execute()


def last_beats(client: Redis) -> dict[str, float | None]:
    """When each expected component last beat (None: never, or not since the broker lost its keys)."""
    values = client.mget([KEY_PREFIX + component for component in COMPONENTS])
    beats: dict[str, float | None] = {}
    for component, value in zip(COMPONENTS, values, strict=True):
        try:
            beats[component] = float(value) if value is not None else None
        except (TypeError, ValueError):
            beats[component] = None
    return beats


@dataclass
class Heartbeat:
    """A process's beat, throttled to one every `every` seconds; never raises (a broker outage is `/health`'s
    to report, not a reason for the relay or a worker to stop)."""

    broker_url: str
    components: list[str]
    every: float
    _client: Redis | None = None
    _last: float = 0.0

    def beat(self, *, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._last < self.every:
            return
        try:
            if self._client is None:
                self._client = Redis.from_url(self.broker_url, socket_timeout=2, socket_connect_timeout=2)
            record_beat(self._client, self.components, now)
            self._last = now
        except RedisError as err:
            log.debug("battement de %s non enregistré : %s", ", ".join(self.components), err)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
