"""Who is alerted (the directory of structures and their channels) and each alert's delivery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, json_field, required_instant


class Structure(SQLModel, table=True):
    """A lead (`eps:<sector>`, `cavs:<zone>`, `mus`) or a partner (`mairie:<sector>`, Paris-wide codes), with
    the channels its alerts go to. Seeded from `data/directory.yaml`, then edited by admins."""

    __tablename__ = "structures"

    code: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=20)  # eps, cavs, mus, mairie, partner
    name: str = Field(max_length=200)
    # Placeholder addresses are seeded inactive: nothing is sent to a structure until an admin turns it on.
    active: bool = False
    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_secret: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    updated_at: datetime | None = instant()
    updated_by: str | None = Field(default=None, max_length=100)


class Delivery(SQLModel, table=True):
    """One alert to one structure over one channel. Its id is the `X-Urgence-Delivery-Id` receivers use to drop
    duplicates; the unique key stops a replayed event from writing it twice."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "structure_code", "channel", name="uq_deliveries_event_structure_channel"),
        Index("ix_deliveries_situation", "situation_id"),
        Index("ix_deliveries_unfinished", "created_at", postgresql_where=text("status = 'pending'")),
    )

    id: str = id_field()
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    situation_id: str | None = Field(default=None, max_length=36)
    structure_code: str = Field(max_length=40)
    channel: str = Field(max_length=10)  # webhook, email
    kind: str = Field(max_length=40)  # the event type that caused it: opened, requalified, escalated, resolved
    # The alert itself, fixed when the event happened: ids, codes and deadlines, never personal data.
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    status: str = Field(default="pending", max_length=20)  # pending, delivered, failed
    attempts: int = 0
    last_status: str | None = Field(default=None, max_length=100)
    last_error: str | None = None
    created_at: datetime = required_instant()
    last_attempt_at: datetime | None = instant()
    delivered_at: datetime | None = instant()
    outbox_id: int | None = Field(default=None, sa_type=BigInteger)
