"""Dead letters, handled by people: listed newest first, and replayed one by one or all at once.

What a replay does (the API's `POST /v1/dead-letters/{id}/replay` and `urgence deadletters replay` alike):

- It puts the work back: a new outbox row (`outbox.enqueue`, in the caller's transaction: the relay publishes it
  at commit) naming the same item, after undoing on the item what the give-up wrote there, so that the task runs
  again as if new (with its full retries: a new message starts them at zero):
  - `route_signal`: the signal's `routing_error` is cleared (it is still `received`: routing never started);
  - `deliver_alert`: the delivery is `pending` again, its `last_error` cleared (its `attempts` kept: they count
    every try ever made), and it points to the new outbox row;
  - `scan_deadlines`: the situation's `scan_error` is cleared, which puts it back in the scan's indexes. No
    outbox row here: the scan is the scheduler's work, not a message's; the next scheduled scan (every
    `URGENCE_DEADLINE_SCAN_SECONDS`) handles the situation.
  Handlers are idempotent, so an item that no longer needs the work (a signal routed since, a delivery gone)
  only sees its new row finished.
- The dead letter is kept, marked replayed (`replayed_at`, `replayed_by`, `replay_outbox_id`): history stays.
  If the work dies again, a new dead letter says so.
- Twice is refused: a letter already replayed raises `AlreadyReplayed` (409 in the API, exit code 1 in the CLI),
  and nothing is written. The letter is read FOR UPDATE: two people replaying it at once replay it once (the
  second waits for the first's commit, then finds it replayed).
- A letter that names no item (a message that never had one, or a payload emptied when the retention period ran
  out) or whose task is not replayable raises `NotReplayable` (409), and nothing is written.
- Every replay is audited (`dead_letter.replay`) in the same transaction; the caller commits.
- All of them at once (`replay_waiting`: the CLI's `replay --all`, the admin page's « Tout rejouer »): each
  letter in a savepoint of the caller's transaction, so that one that cannot be replayed stops no other.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from services.core.access.audit import audit
from services.core.access.principal import Principal
from services.core.errors import Conflict, NotFound
from services.core.models import DeadLetter, Delivery, Signal, Situation
from services.core.outbox import (
    DELIVER_ALERT,
    QUEUE_NOTIFICATIONS,
    QUEUE_ROUTING,
    ROUTE_SIGNAL,
    SCAN_DEADLINES,
    enqueue,
)
from services.core.paging import DEFAULT_PAGE
from services.core.timefmt import rfc3339

AUDIT_ACTION = "dead_letter.replay"


class AlreadyReplayed(Conflict):
    title = "Déjà rejouée"


class NotReplayable(Conflict):
    title = "Impossible à rejouer"


@dataclass(frozen=True)
class Page:
    items: list[DeadLetter]
    next_cursor: str | None


def list_dead_letters(
    session: Session, *, limit: int = DEFAULT_PAGE, cursor: str | None = None, replayed: bool | None = None
) -> Page:
    """Newest first; the cursor is the id of the last letter of the previous page. `replayed`: only those
    (True) or only the others (False)."""
    statement = select(DeadLetter).order_by(col(DeadLetter.id).desc()).limit(limit + 1)
    if cursor is not None:
        statement = statement.where(col(DeadLetter.id) < int(cursor))
    if replayed is not None:
        statement = statement.where(col(DeadLetter.replayed_at).is_not(None) if replayed else _waiting())
    rows = list(session.exec(statement))
    page = rows[:limit]
    return Page(page, str(page[-1].id) if len(rows) > limit and page else None)


def waiting_ids(session: Session) -> list[int]:
    """The letters not yet replayed, oldest first: what `replay --all` goes through."""
    ids = session.exec(select(col(DeadLetter.id)).where(_waiting()).order_by(col(DeadLetter.id)))
    return [letter_id for letter_id in ids if letter_id is not None]


def _waiting() -> Any:
    return col(DeadLetter.replayed_at).is_(None)


@dataclass(frozen=True)
class _Message:
    """The outbox row a replay writes: the task's own payload (its kwargs: the item's id, nothing else)."""

    task: str
    queue: str
    payload: dict[str, str]


@dataclass(frozen=True)
class _Work:
    """What replaying one letter writes: the outbox row (None: the scheduler's work), then the item reset."""

    message: _Message | None
    reset: Callable[[Session, int | None], None]
    signal_id: str | None = None  # for the audit
    situation_id: str | None = None


def _item_id(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value:
        raise NotReplayable(f"cette lettre morte ne nomme pas d'objet à reprendre (« {key} » absent de son contenu)")
    return value


# Each reset is a plain UPDATE by id, conditional on the state the give-up left: it works on a row the ORM could
# not load, and an item that moved on since (a signal routed by hand) is left as it is.


def _signal_work(letter: DeadLetter) -> _Work:
    signal_id = _item_id(letter.payload, "signal_id")

    def reset(session: Session, outbox_id: int | None) -> None:
        session.connection().execute(
            update(Signal)
            .where(col(Signal.id) == signal_id, col(Signal.status) == "received")
            .values(routing_error=None)
        )

    return _Work(_Message(ROUTE_SIGNAL, QUEUE_ROUTING, {"signal_id": signal_id}), reset, signal_id=signal_id)


def _delivery_work(letter: DeadLetter) -> _Work:
    delivery_id = _item_id(letter.payload, "delivery_id")
    situation_id = letter.payload.get("situation_id")

    def reset(session: Session, outbox_id: int | None) -> None:
        session.connection().execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "failed")
            .values(status="pending", last_error=None, outbox_id=outbox_id)
        )

    return _Work(
        _Message(DELIVER_ALERT, QUEUE_NOTIFICATIONS, {"delivery_id": delivery_id}),
        reset,
        situation_id=situation_id if isinstance(situation_id, str) else None,
    )


def _scan_work(letter: DeadLetter) -> _Work:
    situation_id = _item_id(letter.payload, "situation_id")

    def reset(session: Session, outbox_id: int | None) -> None:
        session.connection().execute(update(Situation).where(col(Situation.id) == situation_id).values(scan_error=None))

    return _Work(None, reset, situation_id=situation_id)


_WORK: dict[str, Callable[[DeadLetter], _Work]] = {
    ROUTE_SIGNAL: _signal_work,
    DELIVER_ALERT: _delivery_work,
    SCAN_DEADLINES: _scan_work,
}


def replay(
    session: Session, letter_id: int, *, principal: Principal, now: datetime, client: str | None = None
) -> DeadLetter:
    """Replay one dead letter (see the module's docstring) and return it, marked; the caller commits.
    NotFound for an unknown id, AlreadyReplayed, NotReplayable: nothing written then."""
    letter = session.exec(select(DeadLetter).where(col(DeadLetter.id) == letter_id).with_for_update()).first()
    if letter is None:
        raise NotFound(f"lettre morte {letter_id} introuvable")
    if letter.replayed_at is not None:
        raise AlreadyReplayed(
            f"lettre morte {letter_id} déjà rejouée le {rfc3339(letter.replayed_at)} par {letter.replayed_by}"
        )
    plan = _WORK.get(letter.task)
    if plan is None:
        raise NotReplayable(f"la tâche {letter.task} ne se rejoue pas (seules se rejouent : {', '.join(_WORK)})")
    work = plan(letter)
    message = work.message
    outbox_id = None
    if message is not None:
        outbox_id = enqueue(session, task=message.task, queue=message.queue, payload=message.payload, now=now)
    work.reset(session, outbox_id)
    letter.replayed_at, letter.replayed_by, letter.replay_outbox_id = now, principal.actor[:100], outbox_id
    session.add(letter)
    audit(
        session,
        principal,
        AUDIT_ACTION,
        now=now,
        client=client,
        signal_id=work.signal_id,
        situation_id=work.situation_id,
        detail={"dead_letter_id": letter_id, "task": letter.task, "outbox_id": outbox_id},
    )
    session.flush()
    return letter


@dataclass(frozen=True)
class Outcome:
    """What became of one letter in `replay_waiting`: replayed (`letter`), or refused (`refusal`, in French)."""

    letter_id: int
    letter: DeadLetter | None
    refusal: str | None


def replay_waiting(
    session: Session, *, principal: Principal, now: datetime, client: str | None = None
) -> list[Outcome]:
    """Replay every letter not yet replayed, oldest first, each in a savepoint; the caller commits."""
    outcomes = []
    for letter_id in waiting_ids(session):
        try:
            with session.begin_nested():
                letter = replay(session, letter_id, principal=principal, now=now, client=client)
        except (Conflict, NotFound) as err:
            outcomes.append(Outcome(letter_id, None, err.detail))
            continue
        outcomes.append(Outcome(letter_id, letter, None))
    return outcomes


def console_principal(user: str | None = None) -> Principal:
    """Who replays from the command line: an operator of the machine, with the admin's right, by login name
    (the current one by default; a container's user may have none)."""
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "inconnu"
    return Principal(id=f"console:{user}"[:36], kind="user", role="admin", leads=frozenset(), name=f"console {user}")
