"""Escalation to the MUS: each reason at most once per situation; the MUS queue then shows it too, and the MUS
is alerted."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.core.alerts.notify import notify
from services.core.leads import LEAD_MUS
from services.core.models import Situation
from services.core.situations.timeline import record

# A coordinator's escalation by hand: one reason code, the person's words kept in the event. "At most once per
# reason" then means once by hand per situation, whatever the wording (free text would make it unbounded).
MANUAL_REASON = "manual"


def escalate(
    session: Session,
    situation: Situation,
    *,
    reason: str,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Raise the level by one for a reason not yet used; False (and nothing written) when it was."""
    if reason in situation.escalation_reasons:
        return False
    situation.escalation_level += 1
    situation.escalation_reasons = [*situation.escalation_reasons, reason]
    data: dict[str, object] = {"reason": reason, "level": situation.escalation_level}
    if note is not None:
        data["note"] = note
    event = record(session, situation, type="escalated", actor=actor, now=now, data=data)
    # The alert names the reason code only: a hand-written reason may hold personal data.
    notify(session, situation, event, [(LEAD_MUS, LEAD_MUS)], now=now, details={"reason": reason})
    return True
