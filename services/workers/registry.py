"""Every task the workers run, declared once: its name, its queue, its retries and what giving up on it writes.

The tasks (`tasks.py`) are declared with `outbox_task` / `scheduled_task`, the runner (`runner.py`) reads their
retries and give-up from here, and the relay gives up on a message through the same give-up (`runner.abandon`).
The names themselves live in `services/core/outbox.py`: core writes the outbox rows that name them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from celery import Task
from sqlmodel import Session

from services.core.alerts import delivery
from services.core.logs import CORRELATION_KEY, correlated, new_correlation_id, sane_request_id
from services.core.outbox import (
    DELIVER_ALERT,
    ERASE_EXPIRED,
    QUEUE_MAINTENANCE,
    QUEUE_NOTIFICATIONS,
    QUEUE_ROUTING,
    ROLLUP_CLOSED_DAYS,
    ROLLUP_TODAY,
    ROUTE_SIGNAL,
    ROUTE_SIGNALS,
    SCAN_DEADLINES,
)
from services.core.settings import Settings
from services.core.situations.orientation import flag_orientation_failure
from services.workers.celery_app import celery_app

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# Say on the item a piece of work was for that it was abandoned (a plain UPDATE by id: the item may be a row the
# ORM cannot read) and return the dead letter's payload, ids and codes only; None when the item needs none
# (already done, or gone): its outbox row is then only finished.
GiveUp = Callable[[Session, Mapping[str, Any], str, datetime], dict[str, Any] | None]


@dataclass(frozen=True)
class Retries:
    """`limit` retries, the n-th after min(base × 2^n, cap) seconds (and under the visibility timeout)."""

    limit: int
    base: float
    cap: float


@dataclass(frozen=True)
class TaskSpec:
    name: str
    queue: str
    # Outbox work (None: a scheduled task, run again by the scheduler, never dead-lettered). Read from the
    # settings when the task runs, so that tests and operators can change them.
    retries: Callable[[Settings], Retries] | None = None
    give_up: GiveUp | None = None


def _flag_signal(session: Session, payload: Mapping[str, Any], error: str, now: datetime) -> dict[str, Any]:
    signal_id = str(payload["signal_id"])
    flag_orientation_failure(session, signal_id, error)
    return {"signal_id": signal_id}


def _fail_delivery(session: Session, payload: Mapping[str, Any], error: str, now: datetime) -> dict[str, Any] | None:
    return delivery.give_up(session, str(payload["delivery_id"]), error)


ROUTING = TaskSpec(
    ROUTE_SIGNAL,
    QUEUE_ROUTING,
    retries=lambda settings: Retries(settings.task_max_retries, base=1, cap=30),
    give_up=_flag_signal,
)
ALERT = TaskSpec(
    DELIVER_ALERT,
    QUEUE_NOTIFICATIONS,
    retries=lambda settings: Retries(
        settings.alert_max_retries, base=settings.alert_backoff_base_seconds, cap=settings.alert_backoff_max_seconds
    ),
    give_up=_fail_delivery,
)
# A batch of ROUTING's rows: no retries nor give-up of its own (on failure each row goes the ROUTING way).
ROUTING_BATCH = TaskSpec(ROUTE_SIGNALS, QUEUE_ROUTING)
SCAN = TaskSpec(SCAN_DEADLINES, QUEUE_MAINTENANCE)
ROLLUP = TaskSpec(ROLLUP_CLOSED_DAYS, QUEUE_MAINTENANCE)
ROLLUP_SO_FAR = TaskSpec(ROLLUP_TODAY, QUEUE_MAINTENANCE)
ERASE = TaskSpec(ERASE_EXPIRED, QUEUE_MAINTENANCE)
SPECS: dict[str, TaskSpec] = {
    spec.name: spec for spec in (ROUTING, ROUTING_BATCH, ALERT, SCAN, ROLLUP, ROLLUP_SO_FAR, ERASE)
}


class TaskOf(Protocol[P, R_co]):
    """A declared task, as the rest of the code sees it: called in process, or sent to a worker."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...


def outbox_task(spec: TaskSpec) -> Callable[[Callable[Concatenate[Task, P], R]], TaskOf[P, R]]:
    """A task that handles outbox rows, bound (it retries itself). max_retries=None: the runner counts retries
    against the spec (Celery's own default of 3 would cut them short and fail the task without its give-up)."""
    if spec.retries is None:
        raise ValueError(f"{spec.name} : tâche planifiée, sans reprises ni abandon")

    def declare(function: Callable[Concatenate[Task, P], R]) -> TaskOf[P, R]:
        @functools.wraps(function)
        def run(self: Task, *args: Any, correlation_id: str | None = None, **kwargs: Any) -> R:
            # Under the id of the request that wrote the row (the relay passes it): its logs, and the rows it
            # writes in turn, carry it. A retry is sent with the same keywords, so it keeps it.
            with correlated(sane_request_id(correlation_id) or new_correlation_id()):
                return _logged(spec, lambda: function(self, *args, **kwargs), outbox_id=kwargs.get("outbox_id"))

        declared = celery_app.task(name=spec.name, bind=True, max_retries=None)(run)
        return cast(TaskOf[P, R], declared)

    return declare


def scheduled_task(spec: TaskSpec) -> Callable[[Callable[P, R]], TaskOf[P, R]]:
    """A task the scheduler runs (idempotent: a failed run is simply the next run's work), each run under a
    correlation id of its own."""

    def declare(function: Callable[P, R]) -> TaskOf[P, R]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> R:
            with correlated(new_correlation_id()):
                return _logged(spec, lambda: function(*args, **kwargs), outbox_id=None)

        return cast(TaskOf[P, R], celery_app.task(name=spec.name)(run))

    return declare


def batch_task(spec: TaskSpec) -> Callable[[Callable[[list[dict[str, Any]]], R]], TaskOf[[list[dict[str, Any]]], R]]:
    """A task for a batch of outbox rows the relay groups in one message (`items`: each row's keywords, with its
    `outbox_id` and `correlation_id`). Its INFO line is written once per row, under the row's correlation id:
    the logs follow each signal as they would through its own task."""

    def declare(function: Callable[[list[dict[str, Any]]], R]) -> TaskOf[[list[dict[str, Any]]], R]:
        @functools.wraps(function)
        def run(items: list[dict[str, Any]]) -> R:
            with correlated(new_correlation_id()):
                return _logged(spec, lambda: function(items), batch=items)

        # Its queue comes from `task_routes` (built from SPECS), as for every task.
        return cast(TaskOf[[list[dict[str, Any]]], R], celery_app.task(name=spec.name)(run))

    return declare


def correlation_kwargs(correlation_id: str | None) -> dict[str, str]:
    """What the relay adds to a task's keywords for `outbox_task` to log under the row's correlation id."""
    return {} if correlation_id is None else {CORRELATION_KEY: correlation_id}


def _logged(
    spec: TaskSpec, work: Callable[[], R], *, outbox_id: Any = None, batch: Sequence[Mapping[str, Any]] | None = None
) -> R:
    """Run `work` and say so in one INFO line (how long it took): what follows a signal through the logs. For a
    `batch` of rows, the line is written for each row, under the row's correlation id, as its own task would.
    A failure is logged by the runner (retry, give-up), a Celery `Retry` passes through."""
    started = time.perf_counter()
    result = work()
    if log.isEnabledFor(logging.INFO):
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        if batch is None:
            _say_done(spec, elapsed, outbox_id)
        else:
            for item in batch:
                with correlated(sane_request_id(item.get(CORRELATION_KEY)) or new_correlation_id()):
                    _say_done(spec, elapsed, item.get("outbox_id"), f" (lot de {len(batch)})")
    return result


def _say_done(spec: TaskSpec, elapsed: float, outbox_id: Any, batch: str = "") -> None:
    extra = {"outbox_id": outbox_id, "duration_ms": elapsed}
    log.info("%s terminée en %.1f ms%s", spec.name, elapsed, batch, extra=extra)
