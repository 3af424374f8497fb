"""The fiches réflexes as published versions: each publication is the whole book (every document), so a
decision never sees half of a change; drafts wait to be published."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from services.core.models._types import id_field, instant, json_field, required_instant, text_list


class FichePublication(SQLModel, table=True):
    """One published book; the latest row is the book in force. Rows are only ever added (a rollback is a new
    publication of an earlier content)."""

    __tablename__ = "fiche_publications"
    __table_args__ = (Index("ix_fiche_publications_fingerprint", "fingerprint"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    # The book's content hash, recorded in every decision made with it (`Decision.fiche_book`).
    fingerprint: str = Field(max_length=16)
    documents: dict[str, Any] = json_field(nullable=False, default=dict)  # file name → document: the whole book
    versions: dict[str, str] = json_field(nullable=False, default=dict)  # code → its version (content hash)
    changed: list[str] = text_list()  # the codes whose version this publication changed
    kind: str = Field(max_length=10)  # seed, publish or rollback
    published_at: datetime = required_instant()
    published_by: str = Field(max_length=100)
    reason: str = Field(default="", max_length=1000)
    draft_id: str | None = Field(default=None, max_length=36)
    # On seed publications, the files as read: a later seed changes only what changed in the files since.
    seed: dict[str, Any] | None = Field(default=None, sa_type=JSONB(none_as_null=True))  # SQL NULL, not 'null'


class FicheDraft(SQLModel, table=True):
    """One fiche as someone proposes it, already validated with the rest of the book in force."""

    __tablename__ = "fiche_drafts"

    id: str = id_field()
    code: str = Field(max_length=20, index=True)
    document: dict[str, Any] = json_field(nullable=False, default=dict)
    version: str = Field(max_length=100)
    # The fiche's version in force when the draft was made: publishing checks it is still the one in force.
    base_version: str | None = Field(default=None, max_length=100)
    created_at: datetime = required_instant()
    created_by: str = Field(max_length=100)
    published_at: datetime | None = instant()
    publication_id: int | None = None
