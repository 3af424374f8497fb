"""Signals as received, and the idempotency keys of their submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, json_field, required_instant, text_list


class Signal(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_received_at", "received_at"),
        Index("ix_signals_situation_id", "situation_id"),
        Index("ix_signals_submitted_by", "submitted_by", "received_at"),
    )

    id: str = id_field()
    received_at: datetime = required_instant()
    observed_at: datetime = required_instant()
    submitted_by: str | None = Field(default=None, max_length=36)
    source: str = Field(max_length=20)
    # Personal data (precise place and free text): erased after the retention period.
    lat: float | None = None
    lon: float | None = None
    postcode: str | None = Field(default=None, max_length=5)
    address: str | None = Field(default=None, max_length=500)
    place: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=4000)
    # Facts for routing (not personal on their own).
    given_arrondissement: int | None = None
    people: dict[str, Any] = json_field(nullable=False, default=dict)
    flags: list[str] = text_list()
    # Routing outcome.
    status: str = Field(default="received", max_length=20)
    arrondissement: int | None = None
    sector: str | None = Field(default=None, max_length=20)
    situation_id: str | None = Field(default=None, max_length=36)
    decision: dict[str, Any] | None = json_field()
    routed_at: datetime | None = instant()
    # Set when routing keeps failing: the signal is flagged for people, never dropped.
    routing_error: str | None = None


class IdempotencyKey(SQLModel, table=True):
    """A client's `Idempotency-Key`, scoped to its token, stored with the first answer."""

    __tablename__ = "idempotency_keys"

    token_id: str = Field(primary_key=True, max_length=36)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    signal_id: str = Field(max_length=36)
    response: dict[str, Any] = json_field(nullable=False, default=dict)
    created_at: datetime = required_instant()
