"""The published fiches, their versions, drafts and publications as the API and the page show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.core.fiches.versions import FicheVersion, fiche_history, file_of, in_force_publication
from services.core.models import FicheDraft, FichePublication
from services.core.procedures import fiches_in_force
from services.core.timefmt import rfc3339


def in_force_view(session: Session, *, now: datetime) -> dict[str, Any]:
    """Every fiche in its version in force, with its content (the files are published first if nothing is)."""
    current = in_force_publication(session, now)
    book = fiches_in_force(session)
    return {
        "book": book.fingerprint,
        "publication_id": current.id,
        "published_at": rfc3339(current.published_at),
        "published_by": current.published_by,
        "items": [
            {
                "code": fiche.code,
                "label": fiche.label,
                "version": fiche.version,
                "document": current.documents[file_of(fiche.code)],
            }
            for fiche in book
        ],
    }


def version_view(version: FicheVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "publication_id": version.publication_id,
        "kind": version.kind,
        "published_at": rfc3339(version.published_at),
        "published_by": version.published_by,
        "reason": version.reason,
        "in_force": version.in_force,
        "document": version.document,
    }


def versions_view(session: Session, code: str, *, now: datetime) -> dict[str, Any]:
    in_force_publication(session, now)
    return {"code": code, "items": [version_view(v) for v in fiche_history(session, code)]}


def draft_view(draft: FicheDraft) -> dict[str, Any]:
    return {
        "id": draft.id,
        "code": draft.code,
        "version": draft.version,
        "base_version": draft.base_version,
        "created_at": rfc3339(draft.created_at),
        "created_by": draft.created_by,
        "published_at": rfc3339(draft.published_at) if draft.published_at is not None else None,
        "publication_id": draft.publication_id,
        "document": draft.document,
    }


def publication_view(publication: FichePublication) -> dict[str, Any]:
    assert publication.id is not None
    return {
        "publication_id": publication.id,
        "book": publication.fingerprint,
        "kind": publication.kind,
        "changed": list(publication.changed),
        "versions": dict(publication.versions),
        "published_at": rfc3339(publication.published_at),
        "published_by": publication.published_by,
        "reason": publication.reason,
    }
