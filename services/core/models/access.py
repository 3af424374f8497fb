"""Who may call the API: bearer tokens, stored as hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, json_field, required_instant, text_list


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = id_field()
    name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=20)
    leads: list[str] = text_list()
    # sha256 of the secret: tokens are long random strings, so a fast hash is enough to make a leak useless.
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = required_instant()
    expires_at: datetime | None = instant()
    revoked_at: datetime | None = instant()


class User(SQLModel, table=True):
    """A person who signs in to the web pages; same roles and leads as tokens."""

    __tablename__ = "users"

    id: str = id_field()
    username: str = Field(max_length=100, unique=True)
    password_hash: str = Field(max_length=200)  # argon2id
    role: str = Field(max_length=20)
    leads: list[str] = text_list()
    created_at: datetime = required_instant()
    disabled_at: datetime | None = instant()


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random secret, the table its hash (a leak of the table opens no
    session), with the CSRF secret that forms must echo."""

    __tablename__ = "web_sessions"

    id: str = id_field()
    secret_hash: str = Field(max_length=64, unique=True)
    user_id: str = Field(max_length=36, index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = required_instant()
    expires_at: datetime = required_instant()
    ended_at: datetime | None = instant()


class AuditEntry(SQLModel, table=True):
    """Who read or changed what, when, from where. Append-only: the database refuses updates and deletes."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_situation", "situation_id", "id"),
        Index("ix_audit_at", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    at: datetime = required_instant()
    actor: str = Field(max_length=100)
    principal_id: str = Field(max_length=36)
    role: str = Field(max_length=20)
    action: str = Field(max_length=60)  # e.g. "situation.read", "situation.resolve", "signal.read"
    situation_id: str | None = Field(default=None, max_length=36)
    signal_id: str | None = Field(default=None, max_length=36)
    client: str | None = Field(default=None, max_length=100)  # the caller's address
    detail: dict[str, Any] = json_field(nullable=False, default=dict)
