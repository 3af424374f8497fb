"""The actions on a situation, taken the same way by `POST /v1/situations/{id}/<action>` and by the situation
page: lock the row (both rows for a merge), authorize (`core/access/policy.py`), call the state machine with the
instant and the decision context, audit under the action's name, commit (the relay then sends the alerts the
change wrote). A deadlock is a conflict to retry (`conflicts.py`). The caller reads the request (the body, the
client's address) and answers as it will: the route with the situation, the page with itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from services.api.conflicts import deadlock_is_a_conflict
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.access.policy import actionable_situation, can_act_on_situation
from services.core.clock import utc_now
from services.core.decisions import in_force
from services.core.errors import DomainError, FieldError, Forbidden, InvalidInput
from services.core.models import Situation
from services.core.procedures import fiches_in_force
from services.core.situations import actions
from services.core.situations.checklist import tick
from services.core.situations.schemas import ContactIn, ReasonIn, RequalifyIn, ResolveIn

CHECKLIST = "checklist"
# Every action, by the name the audit records (`situation.<name>`): the state machine's and the checklist tick.
ACTIONS = (*actions.ALLOWED_FROM, CHECKLIST)


@dataclass(frozen=True)
class Tick:
    """A checklist item ticked (`done`) or unticked: the page's own action, an event like the others."""

    item: str
    done: bool


def take(
    session: Session,
    principal: Principal,
    situation_id: str,
    action: str,
    body: BaseModel | Tick | None = None,
    *,
    client: str | None,
) -> Situation:
    """One of `ACTIONS` but `merge`, with its body (none for `acknowledge`); the situation as it now is."""
    with deadlock_is_a_conflict():
        situation = actionable_situation(principal, actions.lock_situations(session, [situation_id]).get(situation_id))
        now = utc_now()
        _change(session, situation, principal.actor, action, body, now)
        _commit(session, principal, situation, action, now=now, client=client)
    return situation


def _change(
    session: Session, situation: Situation, actor: str, action: str, body: BaseModel | Tick | None, now: datetime
) -> None:
    match action, body:
        case "acknowledge", None:
            actions.acknowledge(session, situation, actor=actor, now=now)
        case "contacts", ContactIn() as contact:
            actions.log_contact(
                session, situation, result=contact.result, at=contact.at, note=contact.note, actor=actor, now=now
            )
        case "resolve", ResolveIn() as resolution:
            actions.resolve(session, situation, outcome=resolution.outcome, note=resolution.note, actor=actor, now=now)
        case "reopen", ReasonIn() as why:
            actions.reopen(session, situation, reason=why.reason, actor=actor, now=now)
        case "escalate", ReasonIn() as why:
            actions.escalate_by_hand(session, situation, reason=why.reason, actor=actor, now=now)
        case "requalify", RequalifyIn() as flags:
            context = in_force(session, now, with_weather=True)
            actions.requalify(
                session,
                situation,
                add_flags=flags.add_flags,
                remove_flags=flags.remove_flags,
                actor=actor,
                context=context,
            )
        case "checklist", Tick() as ticked:
            book = fiches_in_force(session)
            tick(session, situation, item=ticked.item, done=ticked.done, actor=actor, now=now, book=book)
        case _:
            raise TypeError(f"no action {action!r} with a body {type(body).__name__}")


def unknown_or_forbidden_target(target: Situation | None) -> DomainError:
    """How the API refuses a merge target: unknown (422 on `into`), or not the caller's to act on (403)."""
    if target is None:
        return InvalidInput([FieldError("into", "not_found", "situation introuvable")])
    return Forbidden("vous ne pouvez pas agir sur la situation cible (pilote ou MUS seulement)")


def merge(
    session: Session,
    principal: Principal,
    situation_id: str,
    into: str,
    *,
    client: str | None,
    refuse_target: Callable[[Situation | None], DomainError] = unknown_or_forbidden_target,
) -> Situation:
    """`situation_id` merged into `into` (both the caller's to act on); the merged situation as it now is.
    `refuse_target`: the error for a target that is unknown or not the caller's (the page says it its way)."""
    with deadlock_is_a_conflict():
        # Both rows locked at once, in id order: two opposite merges cannot deadlock.
        locked = actions.lock_situations(session, [situation_id, into])
        source = actionable_situation(principal, locked.get(situation_id))
        target = locked.get(into)
        if target is None or not can_act_on_situation(principal, target):
            raise refuse_target(target)
        now = utc_now()
        actions.merge(session, source, target, actor=principal.actor, context=in_force(session, now))
        # The target changed too (signals, facts, deadlines): its audit trail says so.
        detail = {"from": source.id}
        audit(
            session, principal, "situation.merged_into", now=now, client=client, situation_id=target.id, detail=detail
        )
        _commit(session, principal, source, "merge", now=now, client=client)
    return source


def _commit(
    session: Session, principal: Principal, situation: Situation, action: str, *, now: datetime, client: str | None
) -> None:
    audit(session, principal, f"situation.{action}", now=now, client=client, situation_id=situation.id)
    session.commit()
