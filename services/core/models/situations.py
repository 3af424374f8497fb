"""Situations (the person or household signals are about) and their append-only event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, text
from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, json_field, required_instant, text_list
from services.core.situations.status import OPEN_STATUSES

_OPEN_SQL = f"status IN ({', '.join(repr(status) for status in OPEN_STATUSES)})"
# Predicates of the deadline scan's partial indexes; the scan's queries use these very texts so that the
# planner can prove they imply the index predicate (a bound parameter would defeat the partial index).
# A situation the scan set aside (`scan_error`: it could not handle it) is in none of them.
_SCANNED_SQL = f"{_OPEN_SQL} AND scan_error IS NULL"
ACK_PENDING = f"{_SCANNED_SQL} AND acknowledged_at IS NULL AND NOT ('ack_overdue' = ANY (escalation_reasons))"
CONTACT_PENDING = f"{_SCANNED_SQL} AND first_contact_at IS NULL AND contact_overdue_at IS NULL"
RESOLVE_PENDING = f"{_SCANNED_SQL} AND NOT ('resolve_overdue' = ANY (escalation_reasons))"


class Situation(SQLModel, table=True):
    """Current state: a projection of the events, kept in the same transaction as each event."""

    __tablename__ = "situations"
    __table_args__ = (
        Index(
            "ix_situations_lead_open",
            "lead",
            "next_deadline",
            "id",
            postgresql_where=text(_OPEN_SQL),
        ),
        Index(
            "ix_situations_sector_open",
            "sector",
            "updated_at",
            postgresql_where=text(_OPEN_SQL),
        ),
        Index("ix_situations_opened_at", "opened_at"),
        # Statistics count each opening on the day of its signal's reception.
        Index("ix_situations_opening_received_at", "opening_received_at"),
        # The situations near one another (the merge proposals): the search box's latitudes, then longitudes.
        Index("ix_situations_place_open", "last_lat", "last_lon", postgresql_where=text(_OPEN_SQL)),
        # The MUS queue: its own situations (the lead index) and every escalated open one (this one).
        Index(
            "ix_situations_escalated_open",
            "next_deadline",
            "id",
            postgresql_where=text(f"{_OPEN_SQL} AND escalation_level > 0"),
        ),
        # The deadline scan: one partial index per deadline, holding only the rows still to look at (a row
        # leaves the index once its deadline is met or its overdue escalation/record is written).
        Index(
            "ix_situations_ack_pending",
            "ack_due",
            postgresql_where=text(ACK_PENDING),
        ),
        Index(
            "ix_situations_contact_pending",
            "contact_due",
            postgresql_where=text(CONTACT_PENDING),
        ),
        Index(
            "ix_situations_resolve_pending",
            "resolve_due",
            postgresql_where=text(RESOLVE_PENDING),
        ),
    )

    id: str = id_field()
    status: str = Field(default="new", max_length=20)
    opened_at: datetime = required_instant()
    # When the signal that opened it was received: what statistics count the opening on and measure the delays
    # from, like the deadlines (kept here so that they need not look up the opening event and its signal).
    opening_received_at: datetime = required_instant()
    updated_at: datetime = required_instant()
    arrondissement: int
    sector: str = Field(max_length=20)
    lead: str = Field(max_length=40)
    primary_fiche: str = Field(max_length=10)
    # The combined decision of all its signals (fiches with versions, partners, directives, relative deadlines).
    decision: dict[str, Any] = json_field(nullable=False, default=dict)
    # Combined facts of its signals: what `requalify` re-routes.
    facts: dict[str, Any] = json_field(nullable=False, default=dict)
    ack_due: datetime = required_instant()
    contact_due: datetime = required_instant()
    resolve_due: datetime = required_instant()
    # The soonest deadline still to meet: what queues sort by and the scan looks at.
    next_deadline: datetime | None = instant()
    acknowledged_at: datetime | None = instant()
    first_contact_at: datetime | None = instant()
    # When the scan found the contact deadline passed with no contact logged (statistics; no escalation).
    contact_overdue_at: datetime | None = instant()
    resolved_at: datetime | None = instant()
    outcome: str | None = Field(default=None, max_length=30)
    escalation_level: int = 0
    escalation_reasons: list[str] = text_list()
    signal_count: int = 0
    # Last signal's observation and (personal) coordinates, for joining.
    last_observed_at: datetime = required_instant()
    last_lat: float | None = None
    last_lon: float | None = None
    merged_into: str | None = Field(default=None, max_length=36)
    # Why the deadline scan set this situation aside (it could not handle it; a dead letter says more).
    scan_error: str | None = None


class Event(SQLModel, table=True):
    """One change, who made it and when: situations' timelines and system changes (weather plan)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_situation", "situation_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    situation_id: str | None = Field(default=None, max_length=36)
    at: datetime = required_instant(index=True)
    type: str = Field(max_length=40)
    actor: str = Field(max_length=100)
    data: dict[str, Any] = json_field(nullable=False, default=dict)


class WeatherPlanState(SQLModel, table=True):
    """The weather plan in force (one row, id 1), set by the MUS; its history is in `events`."""

    __tablename__ = "weather_plan"

    id: int = Field(default=1, primary_key=True)
    kind: str = Field(max_length=20)
    level: int
    set_at: datetime = required_instant()
    set_by: str = Field(max_length=100)
