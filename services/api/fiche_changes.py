"""The changes to the fiches réflexes, made the same way by `/v1/fiches` and by the page `/admin/fiches`: the core
change (`core/fiches/versions.py`) at one instant, its audit entry saying what it made (`fiches.draft`,
`fiches.publish`, `fiches.rollback`), commit. The caller has checked the editor's rule and answers as it will."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from services.core.access import Principal
from services.core.access.audit import audit
from services.core.clock import utc_now
from services.core.fiches.versions import create_draft, publish_draft, rollback_fiche
from services.core.models import FicheDraft, FichePublication


def draft(session: Session, principal: Principal, document: Any, *, client: str | None) -> FicheDraft:
    now = utc_now()
    made = create_draft(session, document, actor=principal.actor, now=now)
    detail = {"draft_id": made.id, "code": made.code, "version": made.version}
    audit(session, principal, "fiches.draft", now=now, client=client, detail=detail)
    session.commit()
    return made


def publish(
    session: Session, principal: Principal, draft_id: str, *, reason: str, client: str | None
) -> FichePublication:
    now = utc_now()
    publication = publish_draft(session, draft_id, actor=principal.actor, now=now, reason=reason)
    detail = {"draft_id": draft_id, "publication_id": publication.id, "book": publication.fingerprint}
    audit(session, principal, "fiches.publish", now=now, client=client, detail=detail)
    session.commit()
    return publication


def roll_back(
    session: Session, principal: Principal, code: str, to: str, *, reason: str, client: str | None
) -> FichePublication:
    now = utc_now()
    publication = rollback_fiche(session, code, to, actor=principal.actor, now=now, reason=reason)
    detail = {"code": code, "to": to, "publication_id": publication.id, "book": publication.fingerprint}
    audit(session, principal, "fiches.rollback", now=now, client=client, detail=detail)
    session.commit()
    return publication
