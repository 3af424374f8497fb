"""Work to hand to the broker, written in the same transaction as what caused it (invariant 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from services.core.models._types import instant, json_field, required_instant


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # The sweep only looks at unfinished rows.
        Index("ix_outbox_unfinished", "published_at", postgresql_where=text("done_at IS NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    task: str = Field(max_length=100)
    queue: str = Field(max_length=50)
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    created_at: datetime = required_instant()
    published_at: datetime | None = instant()
    done_at: datetime | None = instant()
    publish_count: int = 0
    last_error: str | None = None
    # The request's (or task's) correlation id, for the logs of the task that handles the row (`logs.py`).
    correlation_id: str | None = Field(default=None, max_length=128)


class DeadLetter(SQLModel, table=True):
    """A task that kept failing: kept for people to look at, never silently dropped."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    task: str = Field(max_length=100)
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    error: str
    created_at: datetime = required_instant()
    outbox_id: int | None = Field(default=None, sa_type=BigInteger)
    # Replayed by a person (`services/core/deadletters.py`): kept, with who, when and the outbox row it became.
    replayed_at: datetime | None = instant()
    replayed_by: str | None = Field(default=None, max_length=100)
    replay_outbox_id: int | None = Field(default=None, sa_type=BigInteger)
