"""The situation state machine: what coordinators do to a situation, each action one event in the transaction
that changes the projection.

    new ──acknowledge──▶ acknowledged ──contact met──▶ in_progress ──resolve──▶ resolved ──reopen──▶ in_progress
     └──────────────contact met──────────────────────────▲
    any open status (new, acknowledged, in_progress) ──resolve──▶ resolved;  ──merge──▶ merged (final)

Concurrency: the caller locks the row (`lock_situations`, SELECT … FOR UPDATE) before reading its status, so two
actions on one situation run one after the other and the second sees the first's result (and may get a 409).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, get_args

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from services.core.alerts.notify import lead_and_partners, notify
from services.core.deadlines import DEADLINE_KINDS
from services.core.decisions import DecisionContext
from services.core.errors import Conflict, FieldError, InvalidInput
from services.core.facts import FLAGS, combine_facts, facts_from_json, facts_to_json
from services.core.instants import instant_errors
from services.core.models import Signal, Situation
from services.core.routing import Decision, resolve_lead, route
from services.core.situations.escalation import MANUAL_REASON, escalate
from services.core.situations.joining import tighten
from services.core.situations.placement import REPEATED_SIGNALS_THRESHOLD, follow_primary
from services.core.situations.requalification import record_requalified
from services.core.situations.schemas import ContactResult, Outcome
from services.core.situations.status import OPEN_STATUSES, status_label
from services.core.situations.timeline import SYSTEM_ACTOR, deadlines_data, record
from services.core.timefmt import rfc3339

CONTACT_RESULTS: tuple[str, ...] = get_args(ContactResult)
OUTCOMES: tuple[str, ...] = get_args(Outcome)

# Which statuses each action may start from (the state machine, as data).
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "acknowledge": frozenset({"new"}),
    "contacts": frozenset(OPEN_STATUSES),
    "resolve": frozenset(OPEN_STATUSES),
    "reopen": frozenset({"resolved"}),
    "escalate": frozenset(OPEN_STATUSES),
    "requalify": frozenset(OPEN_STATUSES),
    "merge": frozenset(OPEN_STATUSES),
}
ACTION_LABELS = {
    "acknowledge": "prendre en compte",
    "contacts": "consigner un contact sur",
    "resolve": "résoudre",
    "reopen": "rouvrir",
    "escalate": "escalader",
    "requalify": "requalifier",
    "merge": "fusionner",
}
# Open statuses from least to most advanced: a merge keeps the more advanced of the two.
_PROGRESS: dict[str, int] = {status: rank for rank, status in enumerate(OPEN_STATUSES)}


def can_do(action: str, status: str) -> bool:
    return status in ALLOWED_FROM[action]


def ensure_allowed(action: str, situation: Situation) -> None:
    if not can_do(action, situation.status):
        label = status_label(situation.status).lower()
        raise Conflict(
            f"impossible de {ACTION_LABELS[action]} cette situation : elle est au statut « {situation.status} » "
            f"({label})"
        )


def lock_situations(session: Session, ids: Iterable[str]) -> dict[str, Situation]:
    """Lock rows in id order (two merges locking the same pair cannot deadlock) and reload them: the state the
    caller reads is the one it changes."""
    wanted = sorted(set(ids))
    rows = session.exec(
        select(Situation)
        .where(col(Situation.id).in_(wanted))
        .order_by(col(Situation.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.id: row for row in rows}


def _mark_acknowledged(situation: Situation, now: datetime) -> bool:
    """Leaving `new` by any action shows the lead took the situation into account: record it, once."""
    if situation.acknowledged_at is not None:
        return False
    situation.acknowledged_at = now
    return True


def acknowledge(session: Session, situation: Situation, *, actor: str, now: datetime) -> None:
    ensure_allowed("acknowledge", situation)
    situation.status = "acknowledged"
    _mark_acknowledged(situation, now)
    record(session, situation, type="acknowledged", actor=actor, now=now)


def log_contact(
    session: Session,
    situation: Situation,
    *,
    result: str,
    at: datetime | None,
    note: str | None,
    actor: str,
    now: datetime,
) -> None:
    """A team went to the place. `met` moves the situation on (new/acknowledged → in_progress); any contact
    meets the contact deadline (the reference: "a team has been on site / met the person")."""
    ensure_allowed("contacts", situation)
    if result not in CONTACT_RESULTS:
        raise InvalidInput([FieldError("result", "enum", f"valeurs permises : {', '.join(CONTACT_RESULTS)}")])
    contact_at = at or now
    if problems := instant_errors("at", contact_at, now):
        raise InvalidInput(problems)
    first = situation.first_contact_at is None or contact_at < situation.first_contact_at
    if first:
        situation.first_contact_at = contact_at
    data: dict[str, Any] = {"result": result, "at": rfc3339(contact_at), "first": first}
    if note:
        data["note"] = note
    if result == "met" and situation.status in ("new", "acknowledged"):
        data["status"] = {"from": situation.status, "to": "in_progress"}
        if _mark_acknowledged(situation, now):
            data["implicit_ack"] = True
        situation.status = "in_progress"
    record(session, situation, type="contact_logged", actor=actor, now=now, data=data)


def resolve(
    session: Session, situation: Situation, *, outcome: str, note: str | None, actor: str, now: datetime
) -> None:
    ensure_allowed("resolve", situation)
    if outcome not in OUTCOMES:
        raise InvalidInput([FieldError("outcome", "enum", f"valeurs permises : {', '.join(OUTCOMES)}")])
    if outcome == "other" and not (note and note.strip()):
        raise InvalidInput([FieldError("note", "required", "obligatoire quand l'issue est « other »")])
    data: dict[str, Any] = {"outcome": outcome, "from": situation.status}
    if note:
        data["note"] = note
    if _mark_acknowledged(situation, now):
        data["implicit_ack"] = True
    situation.status = "resolved"
    situation.resolved_at = now
    situation.outcome = outcome
    event = record(session, situation, type="resolved", actor=actor, now=now, data=data)
    notify(session, situation, event, lead_and_partners(situation), now=now, details={"outcome": outcome})


def reopen(session: Session, situation: Situation, *, reason: str, actor: str, now: datetime) -> None:
    """Back to in_progress. The outcome leaves the projection (the `resolved` event keeps it), and the
    resolution gets a fresh window from now: a reopened situation is not born overdue. Other deadlines stay."""
    ensure_allowed("reopen", situation)
    previous_outcome = situation.outcome
    window = timedelta(seconds=float(situation.decision["deadlines"]["resolve"]))
    situation.status = "in_progress"
    situation.outcome = None
    situation.resolved_at = None
    situation.resolve_due = max(situation.resolve_due, now + window)
    record(
        session,
        situation,
        type="reopened",
        actor=actor,
        now=now,
        data={"reason": reason, "previous_outcome": previous_outcome, "deadlines": deadlines_data(situation)},
    )


def escalate_by_hand(session: Session, situation: Situation, *, reason: str, actor: str, now: datetime) -> None:
    ensure_allowed("escalate", situation)
    if not escalate(session, situation, reason=MANUAL_REASON, actor=actor, now=now, note=reason):
        raise Conflict("cette situation a déjà été escaladée à la main : une escalade manuelle au plus")


def requalified_due(current: datetime, first_received: datetime, duration: timedelta, now: datetime) -> datetime:
    """One deadline after a requalification.

    A requalification is a person correcting the facts, so, unlike a join, it may loosen: a looser procedure
    gives the deadline it would have given from the first reception (a wrongly flagged emergency stops running
    on a 15-minute clock). A tighter one never puts the deadline in the past: its clock starts now, as for a
    signal that joins now.
    """
    loosened = first_received + duration
    if loosened >= current:
        return loosened
    return min(current, now + duration)


def requalify(
    session: Session,
    situation: Situation,
    *,
    add_flags: Iterable[str],
    remove_flags: Iterable[str],
    actor: str,
    context: DecisionContext,
) -> None:
    """Route again the situation's combined facts, with flags added or removed, on the context's fiches and
    weather plan (those in force: `decisions.in_force(..., with_weather=True)`)."""
    now = context.now
    ensure_allowed("requalify", situation)
    add, remove = frozenset(add_flags), frozenset(remove_flags)
    errors = [
        FieldError(name, "enum", f"drapeaux inconnus : {', '.join(sorted(bad))}")
        for name, values in (("add_flags", add), ("remove_flags", remove))
        if (bad := values - set(FLAGS))
    ]
    if add & remove:
        errors.append(FieldError("remove_flags", "overlap", f"ajoutés et retirés à la fois : {sorted(add & remove)}"))
    if errors:
        raise InvalidInput(errors)

    facts = facts_from_json(situation.facts).with_flags(add, remove)
    territory = context.territory_map.locate(arrondissement=situation.arrondissement)
    decision = route(facts, context.fiches, territory, context.weather)
    assert decision.deadlines is not None and decision.lead is not None  # a situation is always in Paris
    first_received = session.exec(
        select(func.min(Signal.received_at)).where(col(Signal.situation_id) == situation.id)
    ).one()
    origin = first_received or situation.opened_at
    before = {
        "primary_fiche": situation.primary_fiche,
        "lead": situation.lead,
        "flags": situation.facts.get("flags", []),
        "deadlines": deadlines_data(situation),
    }
    for kind in DEADLINE_KINDS:
        current = getattr(situation, f"{kind}_due")
        setattr(situation, f"{kind}_due", requalified_due(current, origin, getattr(decision.deadlines, kind), now))
    situation.facts = facts_to_json(facts)
    situation.decision = decision.to_json()
    situation.primary_fiche = decision.primary_fiche
    situation.lead = decision.lead
    record_requalified(
        session,
        situation,
        before=before,
        after={
            "primary_fiche": decision.primary_fiche,
            "lead": decision.lead,
            "flags": sorted(facts.flags),
            "deadlines": deadlines_data(situation),
        },
        data={
            "cause": "manual",
            "add_flags": sorted(add),
            "remove_flags": sorted(remove),
            "fiches": [f"{f.code}@{f.version}" for f in decision.fiches],
        },
        actor=actor,
        now=now,
        fiches=context.fiches,
    )


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def merge(
    session: Session,
    source: Situation,
    target: Situation,
    *,
    actor: str,
    context: DecisionContext,
) -> None:
    """`source` is the same household as `target`: its signals move there and it ends `merged`. The target is
    combined as a join combines it (it can only tighten) and keeps the more advanced progress of the two."""
    ensure_allowed("merge", source)
    if source.id == target.id:
        raise InvalidInput([FieldError("into", "self", "une situation ne peut pas être fusionnée dans elle-même")])
    if target.status not in OPEN_STATUSES:
        raise Conflict(
            f"impossible de fusionner dans la situation {target.id} : elle est au statut « {target.status} » "
            f"({status_label(target.status).lower()})"
        )
    moved = list(
        session.exec(
            select(Signal.id).where(col(Signal.situation_id) == source.id).order_by(col(Signal.received_at))
        ).all()
    )
    session.execute(update(Signal).where(col(Signal.situation_id) == source.id).values(situation_id=target.id))

    now, fiches = context.now, context.fiches
    territory = context.territory_map.locate(arrondissement=target.arrondissement)
    combined = tighten(
        Decision.from_json(target.decision),
        Decision.from_json(source.decision),
        precedence=fiches.precedence,
        lead_for=lambda code: resolve_lead(fiches.fiche(code).lead, territory),
    )
    target.decision = combined.to_json()
    target.facts = facts_to_json(combine_facts(facts_from_json(target.facts), facts_from_json(source.facts)))
    for kind in DEADLINE_KINDS:
        setattr(target, f"{kind}_due", min(getattr(target, f"{kind}_due"), getattr(source, f"{kind}_due")))
    target.acknowledged_at = _earliest(target.acknowledged_at, source.acknowledged_at)
    target.first_contact_at = _earliest(target.first_contact_at, source.first_contact_at)
    if _PROGRESS[source.status] > _PROGRESS[target.status]:
        target.status = source.status
    if source.last_observed_at > target.last_observed_at:
        target.last_observed_at = source.last_observed_at
        if source.last_lat is not None:
            target.last_lat, target.last_lon = source.last_lat, source.last_lon
    # The MUS keeps seeing what it was escalated: the source's reasons carry over (each still counted once).
    carried = [reason for reason in source.escalation_reasons if reason not in target.escalation_reasons]
    target.escalation_reasons = [*target.escalation_reasons, *carried]
    target.escalation_level += len(carried)
    session.flush()
    counts = dict(
        session.exec(
            select(Signal.situation_id, func.count())
            .where(col(Signal.situation_id).in_([source.id, target.id]))
            .group_by(col(Signal.situation_id))
        ).all()
    )
    target.signal_count = int(counts.get(target.id, 0))
    source.signal_count = int(counts.get(source.id, 0))

    source.status = "merged"
    source.merged_into = target.id
    record(session, source, type="merged", actor=actor, now=now, data={"into": target.id, "signal_ids": moved})
    record(
        session,
        target,
        type="merged_in",
        actor=actor,
        now=now,
        data={
            "from": source.id,
            "signal_ids": moved,
            "escalation_reasons_added": carried,
            "deadlines": deadlines_data(target),
        },
    )
    cause = {"cause": "merge", "merged_from": source.id}
    follow_primary(session, target, combined, actor=actor, now=now, cause=cause, fiches=fiches)
    if target.signal_count >= REPEATED_SIGNALS_THRESHOLD:
        escalate(session, target, reason="repeated_signals", actor=SYSTEM_ACTOR, now=now)
    session.flush()
