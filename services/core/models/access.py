"""Who may call the API: bearer tokens, stored as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, required_instant, text_list


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
