"""What a reporter sent, and what became of it: the loop back to outreach teams (`/mes-signalements`).

A signal records its submitter (`submitted_by`: the token's or the signed-in person's id); only that id's own
signals are read here, so nobody sees another reporter's signals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from services.core.access.policy import may_read_personal_data
from services.core.access.principal import Principal
from services.core.models import Signal, Situation
from services.core.paging import MAX_PAGE

# A merge chain is short (a situation merged into one that was merged later); bounded all the same.
_MAX_MERGE_HOPS = 5


@dataclass(frozen=True)
class SubmittedSignal:
    id: str
    received_at: datetime
    status: str  # received | routed | out_of_territory
    people: dict[str, Any]
    flags: list[str]
    arrondissement: int | None
    sector: str | None
    # Where it went: the lead of the situation it is now part of (it may have changed since routing), else the
    # signal's own decision.
    lead: str | None
    directives: list[str]
    acknowledged_at: datetime | None
    situation_status: str | None
    outcome: str | None
    routing_failed: bool
    # Personal data, only when the policy lets this reader see it (the reporter itself: yes).
    place: str | None


def _current_situation(session: Session, situation_id: str | None) -> Situation | None:
    """The situation a signal belongs to now: a merged one hands over to the one it was merged into."""
    situation = session.get(Situation, situation_id) if situation_id else None
    for _ in range(_MAX_MERGE_HOPS):
        if situation is None or situation.status != "merged" or situation.merged_into is None:
            break
        situation = session.get(Situation, situation.merged_into)
    return situation


def submitted_signals(session: Session, principal: Principal, *, limit: int = 50) -> list[SubmittedSignal]:
    """This caller's own signals, newest first, with where each went and how far it got."""
    signals = session.exec(
        select(Signal)
        .where(col(Signal.submitted_by) == principal.id)
        .order_by(col(Signal.received_at).desc(), col(Signal.id).desc())
        .limit(min(max(limit, 1), MAX_PAGE))
    ).all()
    result = []
    for signal in signals:
        situation = _current_situation(session, signal.situation_id)
        decision = signal.decision or {}
        personal = may_read_personal_data(principal, situation, submitted_by=signal.submitted_by)
        result.append(
            SubmittedSignal(
                id=signal.id,
                received_at=signal.received_at,
                status=signal.status,
                people=signal.people,
                flags=list(signal.flags),
                arrondissement=signal.arrondissement,
                sector=signal.sector,
                lead=situation.lead if situation is not None else decision.get("lead"),
                directives=list(decision.get("directives", [])),
                acknowledged_at=situation.acknowledged_at if situation is not None else None,
                situation_status=situation.status if situation is not None else None,
                outcome=situation.outcome if situation is not None else None,
                routing_failed=signal.routing_error is not None,
                place=signal.place if personal else None,
            )
        )
    return result
