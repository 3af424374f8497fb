"""Column helpers shared by the tables: aware timestamps, JSONB, text arrays, ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field


def random_id() -> str:
    return str(uuid.uuid4())


# Where the ids of new rows come from, in this context (thread, task): random unless a caller passes its own
# source (the demo derives them from its seed, so that the same seed gives the same rows).
_ID_SOURCE: ContextVar[Callable[[], str]] = ContextVar("urgence_id_source", default=random_id)


def new_id() -> str:
    return _ID_SOURCE.get()()


@contextmanager
def ids_from(source: Callable[[], str]) -> Iterator[None]:
    """Inside: every new row's id comes from `source`."""
    token = _ID_SOURCE.set(source)
    try:
        yield
    finally:
        _ID_SOURCE.reset(token)


def id_field() -> Any:
    return Field(default_factory=new_id, primary_key=True, max_length=36)


def instant(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


def required_instant(*, index: bool = False) -> Any:
    return Field(sa_type=DateTime(timezone=True), nullable=False, index=index)


def json_field(*, nullable: bool = True, default: Any = None) -> Any:
    if callable(default):
        return Field(default_factory=default, sa_type=JSONB, nullable=nullable)
    return Field(default=default, sa_type=JSONB, nullable=nullable)


def text_list() -> Any:
    return Field(default_factory=list, sa_type=ARRAY(Text), nullable=False)


__all__ = ["datetime", "id_field", "ids_from", "instant", "json_field", "new_id", "required_instant", "text_list"]
