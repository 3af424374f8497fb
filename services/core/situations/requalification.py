"""A requalification's record: the `requalified` event, and the alert to the new lead when the lead changed.
Written the same way for a coordinator's requalification (`actions.requalify`) and for a lead that follows a
new primary fiche after a join or a merge (`placement.follow_primary`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.core.alerts.notify import notify
from services.core.fiches import FicheBook
from services.core.models import Situation
from services.core.situations.timeline import record


def record_requalified(
    session: Session,
    situation: Situation,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    data: dict[str, Any],
    actor: str,
    now: datetime,
    fiches: FicheBook,
) -> None:
    """Record that `situation`, already changed, was requalified from `before` to `after` (each with at least its
    `primary_fiche` and `lead`), with what else the event keeps (`data`: its cause…). A new lead is alerted, with
    the labels of `fiches`, the book the requalifying decision was made with."""
    event = record(
        session, situation, type="requalified", actor=actor, now=now, data={**data, "from": before, "to": after}
    )
    if situation.lead != before["lead"]:
        notify(
            session,
            situation,
            event,
            [(situation.lead, "lead")],
            now=now,
            details={"previous_lead": before["lead"], "previous_primary_fiche": before["primary_fiche"]},
            fiches=fiches,
        )
