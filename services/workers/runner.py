"""Running a task's work: one transaction, capped retries with one backoff, then a give-up that nothing can block.

Every task runs its work through `in_transaction`; outbox tasks through `run_in_transaction`, which retries a
failure as the task's spec says (`registry.py`) and then `abandon`s it. The relay abandons a message published
too often through the same `abandon`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from celery import Task
from sqlmodel import Session

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.outbox import dead_letter, mark_done
from services.core.settings import get_settings
from services.workers.registry import SPECS

log = logging.getLogger(__name__)
T = TypeVar("T")


def in_transaction(work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction and commit (rolled back if it raises)."""
    with session_scope() as session:
        result = work(session)
        session.commit()
        return result


def backoff_seconds(retries: int, *, base: float, cap: float, visibility_timeout: float) -> float:
    """Wait before retry number `retries + 1`: base × 2^retries, capped, and under half the broker's visibility
    timeout (a retry held longer in a worker would be redelivered by Redis and run twice)."""
    limit = min(cap, visibility_timeout / 2)
    return float(min(base * 2 ** min(retries, 30), limit))


def retry_or_abandon(task: Task, err: Exception, *, payload: Mapping[str, Any], outbox_id: int | None) -> None:
    """Schedule the task again (raises Celery's `Retry`) while its spec allows, else give up on it."""
    spec = SPECS[task.name]
    assert spec.retries is not None  # outbox tasks only (`registry.outbox_task`)
    settings = get_settings()
    retries = int(task.request.retries)
    policy = spec.retries(settings)
    if retries < policy.limit:
        log.warning("%s a échoué (essai %d), nouvel essai : %s", task.name, retries + 1, err)
        wait = backoff_seconds(
            retries, base=policy.base, cap=policy.cap, visibility_timeout=settings.broker_visibility_timeout
        )
        raise task.retry(exc=err, countdown=wait) from err
    log.error("%s abandonné après %d essais : %s", task.name, retries + 1, err)
    abandon(task.name, payload, f"{type(err).__name__}: {err}", outbox_id=outbox_id, now=utc_now())


def run_in_transaction(
    task: Task, work: Callable[[Session], T], *, payload: Mapping[str, Any], outbox_id: int | None
) -> T | None:
    """`in_transaction`; on failure retry with backoff, and after the last retry give up (None) so that nothing is
    silently dropped and nothing is retried forever."""
    try:
        return in_transaction(work)
    except Exception as err:
        retry_or_abandon(task, err, payload=payload, outbox_id=outbox_id)
        return None


def abandon(task_name: str, payload: Mapping[str, Any], error: str, *, outbox_id: int | None, now: datetime) -> None:
    """Give up on one piece of work, in transactions of its own: finish its outbox row, say so on its item (the
    spec's give-up: a plain UPDATE by id, never loading the row) and keep a dead letter. If even saying so on the
    item fails, the dead letter alone and the finished row, in a fresh transaction: a poisoned item can never
    keep its message coming back. A row already finished (another copy of the message gave up, or did the work)
    is left as it is: one dead letter per row."""
    spec = SPECS.get(task_name)
    give_up = None if spec is None else spec.give_up
    try:
        with session_scope() as session:
            if not mark_done(session, outbox_id, now):
                return
            letter = dict(payload) if give_up is None else give_up(session, payload, error, now)
            if letter is not None:
                dead_letter(session, task=task_name, payload=letter, error=error, now=now, outbox_id=outbox_id)
            session.commit()
            return
    except Exception as err:
        log.exception("abandon de %s (outbox %s) : son objet n'a pas pu être marqué", task_name, outbox_id)
        unmarked = f"{type(err).__name__}: {err}"
    with session_scope() as session:
        if mark_done(session, outbox_id, now):
            error = f"{error} (et l'abandon n'a pas pu être noté sur son objet : {unmarked})"
            dead_letter(session, task=task_name, payload=dict(payload), error=error, now=now, outbox_id=outbox_id)
        session.commit()
