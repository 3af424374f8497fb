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

A situation the scan cannot handle (a row it cannot read, an escalation that fails) never stops the others: the
batch is handled at once under a savepoint and, if that fails, again one situation at a time; the one that fails
is set aside (`scan_error`, which takes it out of the three indexes: it is not picked again) with a dead letter
for people to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.core.models import Situation
from services.core.models.situations import ACK_PENDING, CONTACT_PENDING, RESOLVE_PENDING
from services.core.outbox import SCAN_DEADLINES, dead_letter
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
    set_aside: int = 0  # situations the scan could not handle (each has its dead letter)
    full: bool = False  # a batch was full: there may be more to do right away


Handler = Callable[[Session, Situation, datetime], object]


def _escalate_for(reason: str) -> Handler:
    def handle(session: Session, situation: Situation, now: datetime) -> object:
        return escalate(session, situation, reason=reason, actor=SYSTEM_ACTOR, now=now)

    return handle


def _record_contact_overdue(session: Session, situation: Situation, now: datetime) -> object:
    situation.contact_overdue_at = now
    return record(
        session,
        situation,
        type="contact_overdue",
        actor=SYSTEM_ACTOR,
        now=now,
        data={"contact_due": rfc3339(situation.contact_due)},
    )


@dataclass(frozen=True)
class _Kind:
    name: str
    pending: str
    due: Mapped[datetime]
    handle: Handler


_KINDS = (
    _Kind("ack", ACK_PENDING, col(Situation.ack_due), _escalate_for("ack_overdue")),
    _Kind("resolve", RESOLVE_PENDING, col(Situation.resolve_due), _escalate_for("resolve_overdue")),
    _Kind("contact", CONTACT_PENDING, col(Situation.contact_due), _record_contact_overdue),
)


_S = TypeVar("_S", bound=SelectOfScalar[Any])


def _due(statement: _S, kind: _Kind, now: datetime, limit: int) -> _S:
    return (
        statement.where(text(kind.pending), kind.due < now)
        .order_by(kind.due)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _isolable(err: Exception) -> bool:
    """A failure this situation may cause; not a lost connection or a deadlock (those stop the whole scan,
    which the scheduler runs again)."""
    return not isinstance(err, OperationalError)


def _scan_kind(session: Session, kind: _Kind, now: datetime, limit: int) -> tuple[int, int]:
    """Handle one batch of one deadline; (handled, set aside)."""
    try:
        batch = list(session.exec(_due(select(Situation), kind, now, limit)))
    except Exception as err:  # a row that cannot be read (the query itself ran: the transaction is sound)
        if not _isolable(err):
            raise
        return _one_by_one(session, kind, now, limit)
    if not batch:
        return 0, 0
    try:
        with session.begin_nested():
            for situation in batch:
                kind.handle(session, situation, now)
            session.flush()
    except Exception as err:
        if not _isolable(err):
            raise
        return _one_by_one(session, kind, now, limit)
    return len(batch), 0


def _one_by_one(session: Session, kind: _Kind, now: datetime, limit: int) -> tuple[int, int]:
    # The same rows, by id only (the ones this transaction already locked are not skipped).
    ids = list(session.exec(_due(select(col(Situation.id)), kind, now, limit)))
    set_aside = 0
    for situation_id in ids:
        try:
            with session.begin_nested():
                situation = session.get(Situation, situation_id)
                if situation is not None:
                    kind.handle(session, situation, now)
                session.flush()
        except Exception as err:
            if not _isolable(err):
                raise
            set_aside += _set_aside(session, situation_id, kind.name, f"{type(err).__name__}: {err}", now)
    return len(ids) - set_aside, set_aside


def _set_aside(session: Session, situation_id: str, deadline: str, error: str, now: datetime) -> int:
    """Take the situation out of the scan (a plain UPDATE by id: it may be a row the ORM cannot read) and keep
    a dead letter saying which deadline and why. If even that fails, the situation is left for the next scan:
    the others go on."""
    try:
        with session.begin_nested():
            session.connection().execute(
                update(Situation)
                .where(col(Situation.id) == situation_id)
                .values(scan_error=f"{deadline}: {error}"[:2000])
            )
            dead_letter(
                session,
                task=SCAN_DEADLINES,
                payload={"situation_id": situation_id, "deadline": deadline},
                error=error,
                now=now,
                outbox_id=None,
            )
    except Exception as err:
        if not _isolable(err):
            raise
        return 0
    return 1


def scan_deadlines(session: Session, *, now: datetime, limit: int = DEFAULT_BATCH) -> ScanResult:
    """One batch of each kind; the caller commits and calls again while `full`."""
    handled: dict[str, int] = {}
    set_aside: dict[str, int] = {}
    for kind in _KINDS:
        handled[kind.name], set_aside[kind.name] = _scan_kind(session, kind, now, limit)
    return ScanResult(
        ack_overdue=handled["ack"],
        resolve_overdue=handled["resolve"],
        contact_overdue=handled["contact"],
        limit=limit,
        set_aside=sum(set_aside.values()),
        full=any(handled[name] + set_aside[name] == limit for name in handled),
    )
