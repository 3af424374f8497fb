"""The Celery application: configured for at-least-once delivery and exactly-once effect (invariants 2–3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu import Queue

from services.core.outbox import QUEUE_MAINTENANCE, QUEUE_NOTIFICATIONS, QUEUE_ROUTING
from services.core.settings import Settings, get_settings

SWEEP_OUTBOX = "urgence.sweep_outbox"


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.require_broker_url(),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # A message a killed worker had taken comes back after this; our tasks take milliseconds.
            "visibility_timeout": settings.broker_visibility_timeout,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": QUEUE_ROUTING,
        "task_queues": [Queue(QUEUE_ROUTING), Queue(QUEUE_NOTIFICATIONS), Queue(QUEUE_MAINTENANCE)],
        "task_routes": {SWEEP_OUTBOX: {"queue": QUEUE_MAINTENANCE}},
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        "timezone": "Europe/Paris",
        "enable_utc": True,
        "beat_schedule": {
            "sweep-outbox": {
                "task": SWEEP_OUTBOX,
                "schedule": timedelta(seconds=settings.outbox_sweep_seconds),
                # A sweep that could not start in time is replaced by the next one, not queued behind it.
                "options": {"expires": settings.outbox_sweep_seconds},
            },
        },
    }


def create_celery() -> Celery:
    app = Celery("urgence", include=["services.workers.tasks"])
    # Read the settings when the app is first used, not at import: tests and `urgence up` set them first.
    app.add_defaults(lambda: celery_config(get_settings()))
    return app


celery_app = create_celery()


@worker_process_init.connect
def _fresh_connections_after_fork(**_: Any) -> None:
    """A forked pool process must not share its parent's database connections."""
    from services.core.db import get_engine

    get_engine().dispose(close=False)
