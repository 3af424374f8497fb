"""Intake as every adapter runs it (`POST /v1/signals`, the capture page): the same writer threads, the same
idempotency, the same count."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from services.api.metrics import count_accepted
from services.core.clock import utc_now
from services.core.db import get_engine
from services.core.decisions import expected
from services.core.errors import FieldError, InvalidInput
from services.core.settings import get_settings
from services.core.signals.intake import Accepted, accept_signal, request_fingerprint
from services.core.signals.schemas import SignalIn

IDEMPOTENCY_KEY_RULE = "1 à 255 caractères ASCII imprimables"


def checked_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not all(" " <= ch <= "~" for ch in value):
        raise InvalidInput([FieldError("Idempotency-Key", "format", IDEMPOTENCY_KEY_RULE)])
    return value


async def accept(payload: SignalIn, submitted_by: str, key: str | None) -> Accepted:
    """Accept a validated signal, written on a writer thread; `replayed` for a known Idempotency-Key."""
    # The validated payload is the request's meaning: spacing, key order or defaults do not make it another one.
    fingerprint = request_fingerprint(payload.model_dump(mode="json")) if key is not None else None
    # The hot path: one trip to a writer thread for the database, none for the rest.
    loop = asyncio.get_running_loop()
    # In a copy of this request's context: the outbox row gets its correlation id (`logs.py`).
    context = contextvars.copy_context()
    accepted = await loop.run_in_executor(_writers(), context.run, _accept, payload, submitted_by, key, fingerprint)
    if not accepted.replayed:
        count_accepted(payload.source)
    return accepted


@cache
def _writers() -> ThreadPoolExecutor:
    """Threads that write signals, as many as the pool has connections: none waits for one. (asyncio's executor
    rather than the framework's generic thread pool: lighter, and this runs on every signal.)"""
    return ThreadPoolExecutor(max_workers=get_settings().db_pool_size, thread_name_prefix="intake")


def _accept(payload: SignalIn, submitted_by: str, key: str | None, fingerprint: str | None) -> Accepted:
    with get_engine().begin() as connection:  # committed on leaving: the relay, woken by it, routes the signal
        return accept_signal(
            connection,
            payload,
            submitted_by=submitted_by,
            # The book this process used last: the statement checks it is the one in force.
            context=expected(utc_now()),
            idempotency_key=key,
            fingerprint=fingerprint,
        )
