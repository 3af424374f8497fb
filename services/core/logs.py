"""Logs: one correlation id per piece of work, and JSON lines when `URGENCE_LOG_FORMAT=json`.

The id is born with an HTTP request (the client's `X-Request-ID` when sane, else a fresh one), is written into the
outbox rows that request causes (`outbox.py`), and is set again around the task that handles each row (the
workers' registry): every log line of that chain carries it, and a task's own outbox rows inherit it.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import TextIO

from services.core.settings import Settings, get_settings

CORRELATION_KEY = "correlation_id"
# What a client may send as its own request id: short, printable, nothing a log parser could trip on.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar(CORRELATION_KEY, default=None)


def current_correlation_id() -> str | None:
    return _current.get()


def sane_request_id(value: str | None) -> str | None:
    """The client's id if it is one we can log as it is, else None (then we make one)."""
    return value if value is not None and _SANE_ID.fullmatch(value) else None


class _Ids:
    """Fresh ids, 32 hex digits: a random per-process prefix and a counter (a tenth of `uuid4`'s cost, on every
    request without an id of its own). A forked child draws a prefix of its own."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _Ids()


def new_correlation_id() -> str:
    return _ids.next()


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Everything logged or written to the outbox inside carries `correlation_id` (None: none)."""
    token = _current.set(correlation_id)
    try:
        yield
    finally:
        _current.reset(token)


def enter_correlation(correlation_id: str | None) -> Token[str | None]:
    """`correlated` without the context manager's cost, for the HTTP middleware: give the token back to
    `leave_correlation` when done."""
    return _current.set(correlation_id)


def leave_correlation(token: Token[str | None]) -> None:
    _current.reset(token)


class CorrelationFilter(logging.Filter):
    """Puts the current correlation id on every record, for any formatter (`%(correlation_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, CORRELATION_KEY):
            record.correlation_id = _current.get()
        return True


# Attributes every LogRecord has: the rest are the caller's `extra=` and go into the JSON line.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", CORRELATION_KEY}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, correlation id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation_id = getattr(record, CORRELATION_KEY, None) or _current.get()
        if correlation_id is not None:
            line[CORRELATION_KEY] = correlation_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s"


def log_handler(settings: Settings | None = None, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to `stream` (stderr) in the configured format, with the correlation id on each record
    (taken in the thread that logs, whose context it is)."""
    settings = settings or get_settings()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(settings: Settings | None = None) -> None:
    """The root logger of this process: one handler, the configured format and level (replacing any other
    handler: each process calls this once, at its start)."""
    settings = settings or get_settings()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(log_handler(settings))
    root.setLevel(settings.log_level)


def dict_config(settings: Settings | None = None) -> dict[str, object]:
    """The same set-up as `configure_logging`, as a `logging.config.dictConfig` (what uvicorn applies in each
    of its processes)."""
    settings = settings or get_settings()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"default": {"()": "services.core.logs.log_handler"}},
        "root": {"handlers": ["default"], "level": settings.log_level},
    }
