"""Rollups of the statistics (closed days, months, the day so far), and the indexes they read situations by."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Column, Date, Index, Table, func, text
from sqlmodel import Field, SQLModel

from services.core.models._types import json_field, required_instant
from services.core.models.situations import Situation

ALL_PARIS = "*"  # the sector of the rows that total a day for all Paris
NO_SECTOR = ""  # signals out of territory or not yet routed


class DailyRollup(SQLModel, table=True):
    """One closed day (Paris time) of one sector: recomputed whole (DELETE + INSERT), never incremented."""

    __tablename__ = "stats_daily"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    sector: str = Field(primary_key=True, max_length=20)
    # Flat counters: "signals_received", "source:maraude", "fiche:FR01", "due:ack", "met:ack", …
    counts: dict[str, int] = json_field(nullable=False, default=dict)
    # Histograms of durations in minutes (see stats.histograms): {"ack": {"12": 3, …}, "contact": …}.
    durations: dict[str, Any] = json_field(nullable=False, default=dict)
    # Situations still open at the end of the day (a level, not a flow: never summed).
    open_at_end: int = 0
    computed_at: datetime = required_instant()
    # One value per recomputation of a day (shared by its rows): what a month's merge says it was built from.
    rev: int = Field(sa_column=Column(BigInteger, nullable=False, server_default=text("nextval('stats_daily_rev')")))


class MonthlyRollup(SQLModel, table=True):
    """One month of one sector: the sum of the daily rollups listed in `built_from` ("YYYYMMDD:rev,…" of the
    ALL_PARIS rows). A reader uses it only when that list is still exactly the month's daily rollups, so it is
    never stale: a day recomputed, added or removed since makes the reader fall back to the daily rows."""

    __tablename__ = "stats_monthly"

    month: date = Field(sa_column=Column(Date, primary_key=True))  # its first day
    sector: str = Field(primary_key=True, max_length=20)
    counts: dict[str, int] = json_field(nullable=False, default=dict)
    durations: dict[str, Any] = json_field(nullable=False, default=dict)
    built_from: str = Field(nullable=False)
    computed_at: datetime = required_instant()


class TodayRollup(SQLModel, table=True):
    """The day in progress (Paris time) of one sector, counted from its midnight up to `until` (excluded), as
    `tally_days` counts it at that instant: readers add what happened since. Recomputed whole every minute or
    so; only the latest computation is kept (one `until` for all its rows)."""

    __tablename__ = "stats_today"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    sector: str = Field(primary_key=True, max_length=20)
    counts: dict[str, int] = json_field(nullable=False, default=dict)
    durations: dict[str, Any] = json_field(nullable=False, default=dict)
    until: datetime = required_instant()


_situations = cast(Table, Situation.__table__)  # type: ignore[attr-defined]
# The statistics find a day's acknowledgements, contacts, resolutions and deadlines by these instants.
SITUATION_STATS_INDEXES = (
    Index(
        "ix_situations_taken_at",
        func.least(_situations.c.acknowledged_at, _situations.c.first_contact_at, _situations.c.resolved_at),
    ),
    Index("ix_situations_first_contact_at", _situations.c.first_contact_at),
    Index("ix_situations_resolved_at", _situations.c.resolved_at),
    Index("ix_situations_ack_due", _situations.c.ack_due),
    Index("ix_situations_contact_due", _situations.c.contact_due),
    Index("ix_situations_resolve_due", _situations.c.resolve_due),
)
