"""Celery tasks: thin wrappers that load inputs, call a core function and own its transaction."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from sqlmodel import Session

from services.core.alerts.delivery import DeliveryError, Transport, attempt_delivery, backoff_seconds, give_up
from services.core.alerts.notify import DELIVER_ALERT as CORE_DELIVER_ALERT
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.outbox import ROUTE_SIGNAL
from services.core.procedures import active_fiches
from services.core.settings import Settings, get_settings
from services.core.signals.dispatch import RoutingOutcome, flag_routing_failure, route_signal
from services.core.situations.deadlines import DEFAULT_BATCH, scan_deadlines
from services.core.territory import default_map
from services.workers.celery_app import DELIVER_ALERT, ERASE_EXPIRED, ROLLUP_CLOSED_DAYS, SCAN_DEADLINES, celery_app
from services.workers.runner import run_in_transaction

log = logging.getLogger(__name__)
# Batches of the deadline scan per run: a backlog is worked through in one run, a bounded one.
MAX_SCAN_BATCHES = 50
assert DELIVER_ALERT == CORE_DELIVER_ALERT


# max_retries=None: the runner counts retries against `task_max_retries` (Celery's own default of 3 would cut it
# short and fail the task without its dead letter).
@celery_app.task(name=ROUTE_SIGNAL, bind=True, max_retries=None)
def route_signal_task(self: Task, signal_id: str, outbox_id: int | None = None) -> dict[str, Any] | None:
    def work(session: Session) -> RoutingOutcome | None:
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


def _transport(settings: Settings) -> Transport:
    return Transport(
        timeout=settings.alert_timeout_seconds,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_from=settings.smtp_from,
        smtp_security=settings.smtp_security,
        smtp_ca_file=settings.smtp_ca_file,
        smtp_login=(
            None
            if settings.smtp_username is None or settings.smtp_password is None
            else (settings.smtp_username, settings.smtp_password.get_secret_value())
        ),
    )


@celery_app.task(name=DELIVER_ALERT, bind=True, max_retries=None)
def deliver_alert_task(self: Task, delivery_id: str, outbox_id: int | None = None) -> str:
    """Send one alert. A failure is recorded (committed) before the retry is scheduled; after
    `alert_max_retries` retries the delivery is `failed` and a dead letter shows it to admins."""
    settings = get_settings()
    retries = self.request.retries
    try:
        with session_scope() as session:
            attempt = attempt_delivery(
                session, delivery_id, now=utc_now(), transport=_transport(settings), outbox_id=outbox_id
            )
            session.commit()
    except Exception as err:  # the database, not the receiver: same capped retries, then the sweep's turn
        if retries < settings.alert_max_retries:
            raise self.retry(exc=err, countdown=_alert_backoff(settings, retries)) from err
        raise
    if attempt.outcome != "failed":
        return attempt.outcome
    error = f"{attempt.status}: {attempt.error}"
    if retries < settings.alert_max_retries:
        log.warning("alerte %s non remise (essai %d) : %s", delivery_id, retries + 1, error)
        raise self.retry(
            exc=DeliveryError(attempt.status or "", attempt.error or ""), countdown=_alert_backoff(settings, retries)
        )
    log.error("alerte %s abandonnée après %d essais : %s", delivery_id, retries + 1, error)
    with session_scope() as session:
        give_up(session, delivery_id, task=DELIVER_ALERT, error=error, now=utc_now(), outbox_id=outbox_id)
        session.commit()
    return "failed"


def _alert_backoff(settings: Settings, retries: int) -> float:
    return backoff_seconds(
        retries,
        base=settings.alert_backoff_base_seconds,
        cap=settings.alert_backoff_max_seconds,
        visibility_timeout=settings.broker_visibility_timeout,
    )


@celery_app.task(name=SCAN_DEADLINES)
def scan_deadlines_task() -> dict[str, int]:
    """Escalate passed ack/resolve deadlines and record passed contact deadlines, batch by batch."""
    totals = {"ack_overdue": 0, "resolve_overdue": 0, "contact_overdue": 0}
    for _ in range(MAX_SCAN_BATCHES):
        with session_scope() as session:
            result = scan_deadlines(session, now=utc_now(), limit=DEFAULT_BATCH)
            session.commit()
        totals["ack_overdue"] += result.ack_overdue
        totals["resolve_overdue"] += result.resolve_overdue
        totals["contact_overdue"] += result.contact_overdue
        if not result.full:
            break
    return totals


@celery_app.task(name=ROLLUP_CLOSED_DAYS)
def rollup_closed_days() -> int:
    """Recompute the statistics rollups of closed days (missing ones, and the last few again), one day per
    transaction: an interrupted run loses nothing done, and a replay rewrites the same rows."""
    from services.core.stats.rollups import days_to_roll, roll_day

    settings = get_settings()
    now = utc_now()
    with session_scope() as session:
        days = days_to_roll(session, now, reroll_days=settings.stats_reroll_days, limit=settings.stats_rollup_max_days)
    for day in days:
        with session_scope() as session:
            roll_day(session, day, now)
            session.commit()
    return len(days)


@celery_app.task(name=ERASE_EXPIRED)
def erase_expired_personal_data() -> dict[str, int]:
    """Erase the personal data whose retention period has run out (a replay finds nothing more to erase)."""
    from dataclasses import asdict

    from services.core.retention import erase_expired

    with session_scope() as session:
        erased = erase_expired(session, now=utc_now(), months=get_settings().retention_months)
        session.commit()
    return asdict(erased)
