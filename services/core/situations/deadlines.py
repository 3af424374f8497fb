"""The deadline scan (run by the scheduler every `URGENCE_DEADLINE_SCAN_SECONDS`): deadlines are columns, and
this finds the passed ones in bulk. Never a broker ETA per situation (invariant 3).

- ack passed, not acknowledged → escalate `ack_overdue`;
- resolve passed, not resolved → escalate `resolve_overdue`;
- contact passed, no contact logged → recorded (`contact_overdue_at` and a `contact_overdue` event), for
  statistics; the reference does not escalate it.

Each query reads one partial index holding only the rows still to look at, takes a batch with
FOR UPDATE SKIP LOCKED (a situation being changed by a coordinator is left for the next scan, and two scans
share the work), and each finding happens once: the escalation reason or the column takes the row out of the
index. Whether each deadline was met stays computable from timestamps: acknowledged_at vs ack_due,
first_contact_at vs contact_due, resolved_at vs resolve_due (and the events keep every deadline ever set).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from services.core.models import Situation
from services.core.models.situations import ACK_PENDING, CONTACT_PENDING, RESOLVE_PENDING
from services.core.situations.escalation import escalate
from services.core.situations.timeline import SYSTEM_ACTOR, record
from services.core.timefmt import rfc3339

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class ScanResult:
    ack_overdue: int
    resolve_overdue: int
    contact_overdue: int
    limit: int

    @property
    def full(self) -> bool:
        """A batch was full: there may be more to do right away."""
        return self.limit in (self.ack_overdue, self.resolve_overdue, self.contact_overdue)


def _due(session: Session, pending: str, due: Mapped[datetime], now: datetime, limit: int) -> list[Situation]:
    statement = (
        select(Situation).where(text(pending), due < now).order_by(due).limit(limit).with_for_update(skip_locked=True)
    )
    return list(session.exec(statement))


def scan_deadlines(session: Session, *, now: datetime, limit: int = DEFAULT_BATCH) -> ScanResult:
    """One batch of each kind; the caller commits and calls again while `full`."""
    ack = _due(session, ACK_PENDING, col(Situation.ack_due), now, limit)
    for situation in ack:
        escalate(session, situation, reason="ack_overdue", actor=SYSTEM_ACTOR, now=now)
    session.flush()
    resolve = _due(session, RESOLVE_PENDING, col(Situation.resolve_due), now, limit)
    for situation in resolve:
        escalate(session, situation, reason="resolve_overdue", actor=SYSTEM_ACTOR, now=now)
    session.flush()
    contact = _due(session, CONTACT_PENDING, col(Situation.contact_due), now, limit)
    for situation in contact:
        situation.contact_overdue_at = now
        record(
            session,
            situation,
            type="contact_overdue",
            actor=SYSTEM_ACTOR,
            now=now,
            data={"contact_due": rfc3339(situation.contact_due)},
        )
    session.flush()
    return ScanResult(len(ack), len(resolve), len(contact), limit)
