"""Celery tasks: thin wrappers that load inputs, call a core function and own its transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.outbox import ROUTE_SIGNAL, claim_due, dead_letter
from services.core.procedures import active_fiches
from services.core.settings import get_settings
from services.core.signals.dispatch import RoutingOutcome, flag_routing_failure, route_signal
from services.core.territory import default_map
from services.workers.celery_app import SWEEP_OUTBOX, celery_app
from services.workers.publisher import send
from services.workers.runner import run_in_transaction

SWEEP_BATCH = 500


@celery_app.task(name=ROUTE_SIGNAL, bind=True)
def route_signal_task(self: Task, signal_id: str, outbox_id: int | None = None) -> dict[str, Any] | None:
    def work(session: Any) -> RoutingOutcome | None:
        return route_signal(
            session,
            signal_id,
            now=utc_now(),
            fiches=active_fiches(),
            territory_map=default_map(),
            outbox_id=outbox_id,
        )

    outcome = run_in_transaction(
        self,
        work,
        payload={"signal_id": signal_id},
        outbox_id=outbox_id,
        on_give_up=lambda session, error: flag_routing_failure(session, signal_id, error),
    )
    return None if outcome is None else {"status": outcome.status, "situation_id": outcome.situation_id}


@celery_app.task(name=SWEEP_OUTBOX)
def sweep_outbox() -> int:
    """Publish what was never published, and again what was published long ago but never finished."""
    settings = get_settings()
    now = utc_now()
    with session_scope() as session:
        due = claim_due(
            session,
            now,
            redeliver_after=timedelta(seconds=settings.outbox_redeliver_seconds),
            limit=SWEEP_BATCH,
        )
        for message in due:
            if message.publish_count >= settings.outbox_max_attempts:
                error = f"toujours pas traité après {message.publish_count} publications"
                dead_letter(
                    session,
                    task=message.task,
                    payload=message.payload,
                    error=error,
                    now=now,
                    outbox_id=message.id,
                )
                if message.task == ROUTE_SIGNAL:
                    flag_routing_failure(session, message.payload["signal_id"], error)
                continue
            send(message)
            message.published_at = now
            message.publish_count += 1
            session.add(message)
        session.commit()
        return len(due)
