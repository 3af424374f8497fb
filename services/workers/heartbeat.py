"""Where the worker processes beat (see services.core.heartbeats): from inside the loop that does the work, so
that a stuck loop goes silent, and also while idle.

- a worker: a consumer bootstep whose timer runs on the consumer's own event loop, one beat per queue it
  consumes; it stops with the consumer (lost broker connection) and starts again with it;
- the scheduler: its scheduler's `tick`, woken at least once per beat interval;
- the relay: `relay_heartbeat().beat()` from its loop (throttled there).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.beat import PersistentScheduler

from services.core.heartbeats import RELAY, SCHEDULER, Heartbeat, worker_component
from services.core.settings import get_settings


def _heartbeat(components: list[str]) -> Heartbeat:
    settings = get_settings()
    return Heartbeat(settings.require_broker_url(), components, settings.heartbeat_every_seconds)


def relay_heartbeat() -> Heartbeat:
    return _heartbeat([RELAY])


class ConsumerHeartbeat(bootsteps.StartStopStep):
    """Beats for each queue the worker consumes, on the consumer's timer."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer_entry: Any = None
        self._heartbeat: Heartbeat | None = None

    def start(self, parent: Any) -> None:
        queues = sorted(queue.name for queue in parent.task_consumer.queues)
        self._heartbeat = heartbeat = _heartbeat([worker_component(queue) for queue in queues])
        heartbeat.beat(force=True)
        self._timer_entry = parent.timer.call_repeatedly(
            heartbeat.every, lambda: heartbeat.beat(force=True), priority=10
        )

    def stop(self, parent: Any) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)


class BeatingScheduler(PersistentScheduler):
    """Celery's persistent scheduler, beating at every tick; it never sleeps longer than a beat interval."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not hasattr(self, "_urgence_heartbeat"):
            self._urgence_heartbeat = _heartbeat([SCHEDULER])
        self._urgence_heartbeat.beat()
        return min(float(super().tick(*args, **kwargs)), self._urgence_heartbeat.every)
