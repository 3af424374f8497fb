"""Column helpers shared by the tables: aware timestamps, JSONB, text arrays, ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field


def new_id() -> str:
    return str(uuid.uuid4())


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


__all__ = ["datetime", "id_field", "instant", "json_field", "new_id", "required_instant", "text_list"]
