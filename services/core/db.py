"""Database engine and sessions. A core function takes a session and never commits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from services.core.settings import get_settings


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people and tools write) and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


@cache
def get_engine() -> Engine:
    settings = get_settings()
    engine = make_engine(settings.require_database_url(), settings.db_pool_size)
    _engine_pid[0] = os.getpid()
    return engine


_engine_pid = [0]


def forget_inherited_connections() -> None:
    """In a forked child, drop (without closing: they belong to the parent) the pool's connections."""
    if get_engine.cache_info().currsize and _engine_pid[0] != os.getpid():
        get_engine().dispose(close=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction the caller commits; rolled back if the block raises."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


def statement_by_statement(session: Session) -> None:
    """Let each statement of the session's next transaction commit on its own (call before the first one). For
    pages that read, and at most write one audit entry: under READ COMMITTED every statement sees its own snapshot
    anyway, so nothing changes but the BEGIN and COMMIT round trips saved. The pool restores the connection's
    isolation level when it is given back."""
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


_MEMO = "urgence.transaction_memo"


def transaction_memo(session: Session) -> dict[str, Any]:
    """What holds until the session's transaction ends, for code that runs many times in one transaction (a batch
    of signals): locks already taken, rows already read under them, work to do just before the commit. Emptied
    when the transaction commits or rolls back."""
    memo: dict[str, Any] = session.info.setdefault(_MEMO, {})
    return memo


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_memo(session: Session) -> None:
    session.info.pop(_MEMO, None)
