"""The audit trail: every read of personal data and every action, who, when, what, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.core.access.principal import Principal
from services.core.models import AuditEntry


def audit(
    session: Session,
    principal: Principal,
    action: str,
    *,
    now: datetime,
    client: str | None,
    situation_id: str | None = None,
    signal_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record in the caller's transaction: the entry exists if and only if what it records happened."""
    session.add(
        AuditEntry(
            at=now,
            actor=principal.actor,
            principal_id=principal.id,
            role=principal.role,
            action=action,
            situation_id=situation_id,
            signal_id=signal_id,
            client=client[:100] if client else None,
            detail=detail or {},
        )
    )


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    from services.core.timefmt import rfc3339

    return {
        "id": entry.id,
        "at": rfc3339(entry.at),
        "actor": entry.actor,
        "principal_id": entry.principal_id,
        "role": entry.role,
        "action": entry.action,
        "situation_id": entry.situation_id,
        "signal_id": entry.signal_id,
        "client": entry.client,
        "detail": entry.detail,
    }


def read_audit(
    session: Session,
    *,
    situation_id: str | None = None,
    signal_id: str | None = None,
    principal_id: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """Oldest first, paginated by id."""
    statement = select(AuditEntry).where(col(AuditEntry.id) > after_id)
    if situation_id is not None:
        statement = statement.where(col(AuditEntry.situation_id) == situation_id)
    if signal_id is not None:
        statement = statement.where(col(AuditEntry.signal_id) == signal_id)
    if principal_id is not None:
        statement = statement.where(col(AuditEntry.principal_id) == principal_id)
    rows = list(session.exec(statement.order_by(col(AuditEntry.id)).limit(limit + 1)))
    page = rows[:limit]
    return {
        "items": [audit_view(entry) for entry in page],
        "next_cursor": str(page[-1].id) if len(rows) > limit else None,
    }
