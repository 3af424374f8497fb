"""The Celery application: configured for at-least-once delivery and exactly-once effect (invariants 2–3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init
from kombu.entity import Exchange, Queue

from services.core.outbox import (
    ERASE_EXPIRED,
    QUEUE_MAINTENANCE,
    QUEUE_NOTIFICATIONS,
    QUEUE_ROUTING,
    ROLLUP_CLOSED_DAYS,
    ROLLUP_TODAY,
    SCAN_DEADLINES,
)
from services.core.settings import Settings, get_settings
from services.workers.broker import TRANSPORT
from services.workers.heartbeat import ConsumerHeartbeat

QUEUES = (QUEUE_ROUTING, QUEUE_NOTIFICATIONS, QUEUE_MAINTENANCE)


def task_routes() -> dict[str, dict[str, str]]:
    """Each task to its queue, as the registry declares it (imported here, when the app is configured: the
    registry declares its tasks on this app)."""
    from services.workers.registry import SPECS

    return {name: {"queue": spec.queue} for name, spec in SPECS.items()}


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.require_broker_url(),
        # kombu's Redis transport, one client per channel (`broker.py`); any other broker keeps its own.
        "broker_transport": TRANSPORT if settings.require_broker_url().startswith("redis://") else None,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # A message a killed worker had taken comes back after this; our tasks take milliseconds.
            "visibility_timeout": settings.broker_visibility_timeout,
            # Look for such messages every few seconds (kombu's default scans only every 10 × 10 s): a message
            # taken by a killed worker is back about one visibility timeout later, not up to 100 s more.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 5)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": QUEUE_ROUTING,
        # Each queue its own exchange and key: a shared default binding would copy every message to every queue.
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in QUEUES],
        "task_routes": task_routes(),
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "beat_scheduler": "services.workers.heartbeat:BeatingScheduler",  # beats for /health
        # Events for Flower (`celery --broker=… flower`): three small messages per task to Redis, and heartbeats.
        "worker_send_task_events": settings.celery_events,
        "task_send_sent_event": settings.celery_events,
        "timezone": "Europe/Paris",
        "enable_utc": True,
        "beat_schedule": {
            # Statistics of closed days, recomputed whole (never incremented): a replay changes nothing.
            "rollup-closed-days": {
                "task": ROLLUP_CLOSED_DAYS,
                "schedule": timedelta(seconds=settings.stats_rollup_every_seconds),
                "options": {"expires": settings.stats_rollup_every_seconds},
            },
            # The day in progress so far (recomputed whole): a semester in progress computes live only what came since.
            "rollup-today": {
                "task": ROLLUP_TODAY,
                "schedule": timedelta(seconds=settings.stats_today_every_seconds),
                "options": {"expires": settings.stats_today_every_seconds},
            },
            # Personal data past its retention period is erased once a day (idempotent).
            "erase-expired-personal-data": {
                "task": ERASE_EXPIRED,
                "schedule": timedelta(seconds=settings.retention_every_seconds),
                "options": {"expires": settings.retention_every_seconds},
            },
            # Deadlines are columns; this finds the passed ones (never a broker ETA per situation).
            "scan-deadlines": {
                "task": SCAN_DEADLINES,
                "schedule": timedelta(seconds=settings.deadline_scan_seconds),
                "options": {"expires": settings.deadline_scan_seconds},
            },
        },
    }


def create_celery() -> Celery:
    app = Celery("urgence", include=["services.workers.tasks"])
    # Read the settings when the app is first used, not at import: tests and `urgence up` set them first.
    app.add_defaults(lambda: celery_config(get_settings()))
    app.steps["consumer"].add(ConsumerHeartbeat)  # beats for /health
    return app


celery_app = create_celery()


def our_logging() -> None:
    """Processes started by the `urgence` command log our way (`services/core/logs.py`): Celery, on its
    `setup_logging` signal, then leaves logging to us. (Not connected at import: a worker started by the tests
    keeps the test runner's handlers.)"""
    from services.core.logs import configure_logging

    setup_logging.connect(lambda **_: configure_logging(), weak=False)


Receiver = TypeVar("Receiver", bound=Callable[..., None])


def on(signal: Any) -> Callable[[Receiver], Receiver]:
    """`@on(worker_init)`: Celery's signals are untyped; connecting through here keeps the receiver's type."""

    def connect(receiver: Receiver) -> Receiver:
        signal.connect(receiver)
        return receiver

    return connect


@on(worker_process_init)
def _fresh_connections_after_fork(**_: Any) -> None:
    """A forked pool process must not share its parent's database connections (also sent, without a fork,
    by in-thread test workers: then nothing is dropped)."""
    from services.core.db import forget_inherited_connections

    forget_inherited_connections()


@on(worker_init)
def _load_before_fork(**_: Any) -> None:
    """Load the procedures, the polygons and the database driver once, before the pool forks: each process's
    first tasks are then as quick as the others (broken fiches stop the worker here, at its start)."""
    from services.core.clock import utc_now
    from services.core.db import get_engine
    from services.core.procedures import prepare_procedures
    from services.core.territory import default_map

    get_engine()
    prepare_procedures(utc_now())
    default_map()
