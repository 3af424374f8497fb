"""Escalation to the MUS: each reason at most once per situation; the MUS queue then shows it too."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.core.models import Situation
from services.core.situations.timeline import record

AUTOMATIC_REASONS = ("ack_overdue", "resolve_overdue", "repeated_signals")


def escalate(session: Session, situation: Situation, *, reason: str, actor: str, now: datetime) -> bool:
    """Raise the level by one for a reason not yet used; False (and nothing written) when it was."""
    if reason in situation.escalation_reasons:
        return False
    situation.escalation_level += 1
    situation.escalation_reasons = [*situation.escalation_reasons, reason]
    record(
        session,
        situation,
        type="escalated",
        actor=actor,
        now=now,
        data={"reason": reason, "level": situation.escalation_level},
    )
    return True
