"""Running a core function as a task: one transaction, short capped retries, then a dead letter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from sqlmodel import Session

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.outbox import dead_letter
from services.core.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BACKOFF_SECONDS = 30


def backoff(retries: int) -> int:
    return int(min(2**retries, MAX_BACKOFF_SECONDS))


def run_in_transaction(
    task: Task,
    work: Callable[[Session], T],
    *,
    payload: dict[str, Any],
    outbox_id: int | None,
    on_give_up: Callable[[Session, str], None] | None = None,
) -> T | None:
    """Run `work` and commit; on failure retry with backoff, and after the last retry record a dead letter
    (plus `on_give_up`, e.g. flag the signal) so nothing is silently dropped."""
    try:
        with session_scope() as session:
            result = work(session)
            session.commit()
            return result
    except Exception as err:
        retries = task.request.retries
        if retries < get_settings().task_max_retries:
            log.warning("%s a échoué (essai %d), nouvel essai : %s", task.name, retries + 1, err)
            raise task.retry(exc=err, countdown=backoff(retries)) from err
        log.error("%s abandonné après %d essais : %s", task.name, retries + 1, err)
        error = f"{type(err).__name__}: {err}"
        with session_scope() as session:
            dead_letter(session, task=task.name, payload=payload, error=error, now=utc_now(), outbox_id=outbox_id)
            if on_give_up is not None:
                on_give_up(session, error)
            session.commit()
        return None
