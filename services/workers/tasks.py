"""Celery tasks: thin wrappers that load inputs, call a core function and own its transaction (`runner.py`),
each declared from its spec in the registry (`registry.py`)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from celery import Task
from sqlmodel import Session

from services.core.alerts.delivery import Attempt, DeliveryError, Transport, attempt_delivery
from services.core.clock import utc_now
from services.core.decisions import expected
from services.core.logs import CORRELATION_KEY
from services.core.outbox import SIGNALS_PER_MESSAGE
from services.core.settings import Settings, get_settings
from services.core.situations.deadlines import DEFAULT_BATCH, ScanResult, scan_deadlines
from services.core.situations.orientation import (
    Orientation,
    Waiting,
    orient_free_signals,
    orient_signal,
    orient_signals,
)
from services.workers.celery_app import celery_app
from services.workers.registry import (
    ALERT,
    ERASE,
    ROLLUP,
    ROLLUP_SO_FAR,
    ROUTING,
    ROUTING_BATCH,
    SCAN,
    batch_task,
    outbox_task,
    scheduled_task,
)
from services.workers.runner import in_transaction, retry_or_abandon, run_in_transaction

log = logging.getLogger(__name__)
# Batches of the deadline scan per run: a backlog is worked through in one run, a bounded one.
MAX_SCAN_BATCHES = 50


@outbox_task(ROUTING)
def orient_signal_task(self: Task, signal_id: str, outbox_id: int | None = None) -> dict[str, Any] | None:
    def work(session: Session) -> Orientation | None:
        return orient_signal(session, signal_id, context=expected(utc_now()), outbox_id=outbox_id)

    outcome = run_in_transaction(self, work, payload={"signal_id": signal_id}, outbox_id=outbox_id)
    return None if outcome is None else {"status": outcome.status, "situation_id": outcome.situation_id}


@batch_task(ROUTING_BATCH)
def orient_signals_task(items: list[dict[str, Any]]) -> int:
    """The relay's batch of `route_signal` rows (`SIGNALS_PER_MESSAGE` at most; a longer one, from an older
    relay, is cut), in one transaction whatever its sectors: one transaction's fixed round trips, not one per
    sector or per signal. It takes the join locks of its sectors that are free, never waiting while it holds
    some; the signals of the others go on, a sector a transaction, which then waits for that one lock alone.
    If a transaction fails, for whatever reason, each of its rows goes on as its own `route_signal` message: a
    poisoned signal then meets its retries and its give-up alone, and the others are oriented at once. (Sent
    before this message is acknowledged: a crash in between sends them again, and orienting is idempotent.)"""
    waiting = [Waiting(str(item["signal_id"]), item.get("outbox_id"), item.get(CORRELATION_KEY)) for item in items]
    oriented = 0
    for start in range(0, len(waiting), SIGNALS_PER_MESSAGE):
        part = waiting[start : start + SIGNALS_PER_MESSAGE]

        def orient_free(session: Session, part: list[Waiting] = part) -> list[list[Waiting]]:
            # The book in force is read with the signals: a publication applies to the very next transaction.
            return orient_free_signals(session, part, context=expected(utc_now()))

        try:
            for sector in in_transaction(orient_free):

                def orient(session: Session, sector: list[Waiting] = sector) -> list[Orientation | None]:
                    return orient_signals(session, sector, context=expected(utc_now()))

                in_transaction(orient)
        except Exception as err:
            _each_alone([item for item in items if item["signal_id"] in {w.signal_id for w in part}], err)
            continue
        oriented += len(part)
    return oriented


def _each_alone(items: list[dict[str, Any]], err: Exception) -> int:
    """A batch's part that failed: each of its rows goes on as its own `route_signal` message."""
    log.warning("lot de %d signalements en échec, chacun repart seul : %s", len(items), err)
    for item in items:
        celery_app.send_task(ROUTING.name, kwargs=item, queue=ROUTING.queue, retry=False)
    return 0


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


@outbox_task(ALERT)
def deliver_alert_task(self: Task, delivery_id: str, outbox_id: int | None = None) -> str:
    """Send one alert. A failure is recorded (committed) before the retry is scheduled; after
    `alert_max_retries` retries the delivery is `failed` and a dead letter shows it to admins."""
    transport = _transport(get_settings())

    def work(session: Session) -> Attempt:
        return attempt_delivery(session, delivery_id, now=utc_now(), transport=transport, outbox_id=outbox_id)

    payload = {"delivery_id": delivery_id}
    attempt = run_in_transaction(self, work, payload=payload, outbox_id=outbox_id)
    if attempt is None:
        return "failed"  # the database kept failing: given up
    if attempt.outcome != "failed":
        return attempt.outcome
    # The receiver said no: the attempt is recorded; the same retries, then the same give-up.
    refused = DeliveryError(attempt.status or "", attempt.error or "")
    retry_or_abandon(self, refused, payload=payload, outbox_id=outbox_id)
    return "failed"


@scheduled_task(SCAN)
def scan_deadlines_task() -> dict[str, int]:
    """Escalate passed ack/resolve deadlines and record passed contact deadlines, batch by batch."""
    totals = {"ack_overdue": 0, "resolve_overdue": 0, "contact_overdue": 0, "set_aside": 0}
    for _ in range(MAX_SCAN_BATCHES):

        def work(session: Session) -> ScanResult:
            return scan_deadlines(session, now=utc_now(), limit=DEFAULT_BATCH)

        result = in_transaction(work)
        for key in totals:
            totals[key] += getattr(result, key)
        if not result.full:
            break
    return totals


@scheduled_task(ROLLUP)
def rollup_closed_days() -> int:
    """Recompute the statistics rollups of closed days (missing ones, and the last few again), one month's days
    per transaction: an interrupted run loses nothing done, and a replay rewrites the same rows."""
    from services.core.stats.rollups import by_month, days_to_roll, refresh_stale_months, roll_days

    settings = get_settings()
    now = utc_now()
    days = in_transaction(
        lambda session: days_to_roll(
            session, now, reroll_days=settings.stats_reroll_days, limit=settings.stats_rollup_max_days
        )
    )
    for month in by_month(days):

        def roll(session: Session, month: list[date] = month) -> None:
            roll_days(session, month, now)

        in_transaction(roll)
    # Months merged while another day of theirs was being recomputed (two workers at once) are merged again.
    in_transaction(lambda session: refresh_stale_months(session, now))
    return len(days)


@scheduled_task(ROLLUP_SO_FAR)
def rollup_today() -> int:
    """Recompute the day in progress up to now (a replay rewrites it up to its own instant)."""
    from services.core.stats.today import roll_today

    return in_transaction(lambda session: roll_today(session, utc_now()))


@scheduled_task(ERASE)
def erase_expired_personal_data() -> dict[str, int]:
    """Erase the personal data whose retention period has run out (a replay finds nothing more to erase)."""
    from dataclasses import asdict

    from services.core.retention import erase_expired

    erased = in_transaction(
        lambda session: erase_expired(session, now=utc_now(), months=get_settings().retention_months)
    )
    return asdict(erased)
