"""`/situations/{id}`: everything a coordinator needs to act on a situation, and its actions as plain forms
(POST → 303 back, errors in French beside the field). Same core functions, same policy and same audit as
`services.api.routers.situations`: both take their actions by `services.api.situation_actions`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import and_
from sqlmodel import Session, col, select

from services.api.deps import SessionDep, TerritoryDep, client_address
from services.api.problems import field_errors
from services.api.situation_actions import ACTIONS, CHECKLIST, Tick, merge, take
from services.api.web.auth import Form, PageForm, PageRefusal, PageRoute, form_value, require_page_roles
from services.api.web.formats import (
    CONTACT_LABELS,
    DELIVERY_LABELS,
    ESCALATION_REASONS,
    EVENT_LABELS,
    FLAG_LABELS,
    OUTCOME_LABELS,
    SOURCE_LABELS,
    actor_text,
    lead_label,
    paris_time,
    people_words,
    time_left,
)
from services.api.web.mapping import frame
from services.api.web.render import render
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.access.policy import (
    can_act_on_situation,
    can_see_situation,
    may_read_personal_data,
    visible_situation,
)
from services.core.alerts.directory import partner_code
from services.core.clock import utc_now
from services.core.db import statement_by_statement
from services.core.deadlines import DEADLINE_KINDS, DEADLINE_LABELS
from services.core.errors import Conflict, DomainError, FieldError, InvalidInput
from services.core.facts import FLAGS
from services.core.fiches import FicheBook
from services.core.models import Delivery, Event, Signal, Situation, Structure
from services.core.procedures import fiches_in_force
from services.core.signals.words import DIRECTIVE_CALLS
from services.core.situations import actions
from services.core.situations.checklist import checklist
from services.core.situations.nearby import merge_candidates
from services.core.situations.schemas import ContactIn, MergeIn, ReasonIn, RequalifyIn, ResolveIn
from services.core.situations.status import OPEN_STATUSES, status_label
from services.core.situations.views import shown_event_data, shown_personal_fields, situation_events, situation_signals
from services.core.stats.charts import paris_map, project
from services.core.territory import TerritoryMap

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Coordination = Annotated[Principal, Depends(require_page_roles("coordinator", "admin"))]
DONE_MESSAGES = {
    "acknowledge": "Situation prise en compte.",
    "contacts": "Contact noté.",
    "resolve": "Situation close.",
    "reopen": "Situation rouverte.",
    "escalate": "Situation escaladée vers la MUS.",
    "requalify": "Situation requalifiée.",
    "merge": "Situation fusionnée.",
    "checklist": "Liste des actions mise à jour.",
}
Errors = dict[str, str]


@dataclass(frozen=True)
class Failure:
    """An action refused for what was sent or for the current status: shown on the page, next to the form."""

    action: str
    errors: Errors
    status: int


# --- Reading -------------------------------------------------------------------------------------------------


def _deadlines(situation: Situation, now: Any) -> list[dict[str, Any]]:
    met = {"ack": situation.acknowledged_at, "contact": situation.first_contact_at, "resolve": situation.resolved_at}
    rows = []
    for kind in DEADLINE_KINDS:
        due = getattr(situation, f"{kind}_due")
        done = met[kind]
        if done is not None:
            text, overdue = (f"fait le {paris_time(done)}" + (" (en retard)" if done > due else ""), False)
        elif situation.status not in OPEN_STATUSES:
            text, overdue = "sans objet", False
        else:
            text, overdue = time_left(due, now)
        rows.append({"label": DEADLINE_LABELS[kind], "due": paris_time(due), "text": text, "overdue": overdue})
    return rows


def _partners(session: Session, situation: Situation) -> list[dict[str, Any]]:
    codes = [situation.lead, *(partner_code(p, situation.sector) for p in situation.decision.get("partners", []))]
    # One round trip: each structure with the alerts it was sent about this situation, oldest first.
    sent_to = and_(col(Delivery.structure_code) == col(Structure.code), col(Delivery.situation_id) == situation.id)
    found = session.exec(
        select(Structure, Delivery)
        .join(Delivery, sent_to, isouter=True)
        .where(col(Structure.code).in_(codes))
        .order_by(col(Delivery.created_at))
    ).all()
    structures = {structure.code: structure for structure, _ in found}
    deliveries = [delivery for _, delivery in found if delivery is not None]
    rows = []
    for index, code in enumerate(dict.fromkeys(codes)):
        structure = structures.get(code)
        sent = [
            {
                "kind": EVENT_LABELS.get(d.kind, d.kind),
                "channel": "courriel" if d.channel == "email" else "webhook",
                "status": d.status,
                "status_label": DELIVERY_LABELS.get(d.status, d.status),
                "at": paris_time(d.delivered_at or d.last_attempt_at or d.created_at),
                "attempts": d.attempts,
            }
            for d in deliveries
            if d.structure_code == code
        ]
        rows.append(
            {
                "code": code,
                # A structure missing from the directory still reads as a lead where it is one.
                "name": structure.name if structure else (lead_label(code) if index == 0 else code),
                "role": "pilote" if index == 0 else "partenaire",
                "active": bool(structure and structure.active),
                "deliveries": sent,
            }
        )
    return rows


def _map(
    situation: Situation, personal: bool, signals: list[dict[str, Any]], territory_map: TerritoryMap
) -> dict[str, Any]:
    """All Paris with the arrondissement, and a close-up of it with the places of the signals (the last one
    larger) when the reader may see places."""
    drawn = paris_map(territory_map)
    point = _projected(situation.last_lat, situation.last_lon, territory_map) if personal else None
    x, y, width, height = frame(situation.arrondissement, territory_map)
    return {
        "map": drawn,
        "here": situation.arrondissement,
        "point": point,
        "close_up": f"{x:.1f} {y:.1f} {width:.1f} {height:.1f}",
        "radius": f"{width / 60:.2f}",
        "small_radius": f"{width / 110:.2f}",
        "places": [s["point"] for s in signals if s["point"] is not None],
    }


def _timeline(events: Sequence[Event], personal: bool) -> list[dict[str, Any]]:
    rows = []
    for event in reversed(events):  # newest first: what just happened is what people look for
        data = shown_event_data(event, personal=personal)
        rows.append(
            {
                "type": event.type,
                "label": EVENT_LABELS.get(event.type, event.type),
                "at": paris_time(event.at),
                "iso": event.at.isoformat(),
                "actor": actor_text(event.actor),
                "details": _event_details(event.type, data),
            }
        )
    return rows


def _event_details(kind: str, data: dict[str, Any]) -> list[str]:
    details = []
    if kind == "contact_logged":
        details.append(f"Résultat : {CONTACT_LABELS.get(data.get('result', ''), data.get('result'))}")
    if kind == "resolved":
        details.append(f"Issue : {OUTCOME_LABELS.get(data.get('outcome', ''), data.get('outcome'))}")
    if kind == "escalated":
        details.append(
            f"Niveau {data.get('level')} ({ESCALATION_REASONS.get(data.get('reason', ''), data.get('reason'))})"
        )
    if kind == "requalified":
        for key, word in (("add_flags", "ajouté"), ("remove_flags", "retiré")):
            for flag in data.get(key, []) or []:
                details.append(f"{FLAG_LABELS.get(flag, flag)} : {word}")
        before, after = data.get("from") or {}, data.get("to") or {}
        if after.get("primary_fiche") and after.get("primary_fiche") != before.get("primary_fiche"):
            details.append(f"Fiche principale : {before.get('primary_fiche')} → {after['primary_fiche']}")
        if after.get("lead") and after.get("lead") != before.get("lead"):
            details.append(f"Pilote : {lead_label(before.get('lead'))} → {lead_label(after['lead'])}")
    if kind == "checklist_ticked":
        details.append(("Fait : " if data.get("done") else "Décoché : ") + str(data.get("item", "")))
    if kind in ("merged", "merged_in"):
        other = data.get("into") or data.get("from")
        if other:
            details.append(f"Autre situation : {str(other)[:8]}")
    for key, label in (("reason", "Motif"), ("note", "Note")):
        if data.get(key) and not (kind == "escalated" and key == "reason"):
            details.append(f"{label} : {data[key]}")
    return details


def _signals(signals: Sequence[Signal], personal: bool, territory_map: TerritoryMap) -> list[dict[str, Any]]:
    rows = []
    for s in signals:
        shown = shown_personal_fields(s, personal=personal)
        location = shown.get("location", {})
        rows.append(
            {
                "id": s.id,
                "received": paris_time(s.received_at),
                "observed": paris_time(s.observed_at),
                "source": SOURCE_LABELS.get(s.source, s.source),
                "people": s.people,
                "flags": [FLAG_LABELS.get(f, f) for f in s.flags],
                "place": shown.get("place"),
                "point": _projected(location.get("lat"), location.get("lon"), territory_map),
                "description": shown.get("description"),
            }
        )
    return rows


def _projected(lat: float | None, lon: float | None, territory_map: TerritoryMap) -> dict[str, str] | None:
    if lat is None or lon is None:
        return None
    x, y = project(lon, lat, territory_map)
    return {"x": f"{x:.1f}", "y": f"{y:.1f}"}


def _directive_words(code: str) -> str:
    """« appeler le 115 »: the number of the directive's call (`DIRECTIVE_CALLS`, as the capture page says it)."""
    call = DIRECTIVE_CALLS.get(code)
    return f"appeler le {call.number}" if call else code


def _fiche_label(code: str, book: FicheBook) -> str:
    return f"{code} — {book.label(code)}" if code in book else code


def situation_page(
    request: Request,
    session: Session,
    principal: Principal,
    situation: Situation,
    territory_map: TerritoryMap,
    *,
    failure: Failure | None = None,
    done: str | None = None,
) -> Response:
    """The page, with a read of personal data audited exactly as `GET /v1/situations/{id}` does: the same entry,
    committed before anything is sent (here in the reads' own transaction, one round trip fewer)."""
    now = utc_now()
    personal = may_read_personal_data(principal, situation, submitted_by=None)
    book = fiches_in_force(session)
    events = situation_events(session, situation)
    may_act = can_act_on_situation(principal, situation)
    allowed = {action for action in actions.ALLOWED_FROM if may_act and actions.can_do(action, situation.status)}
    fiches = [
        {
            "code": entry.get("code"),
            "label": _fiche_label(entry.get("code", ""), book),
            "primary": entry.get("code") == situation.primary_fiche,
            "because": entry.get("because", []),
        }
        for entry in situation.decision.get("fiches", [])
    ]
    items = checklist(situation, events, book)
    candidates = []
    if "merge" in allowed:
        candidates = [
            {
                "id": other.id,
                "label": _fiche_label(other.primary_fiche, book),
                "sector": other.sector,
                "status": status_label(other.status),
                "signals": other.signal_count,
                "opened": paris_time(other.opened_at),
            }
            for other in merge_candidates(session, situation)
            if can_see_situation(principal, other) and can_act_on_situation(principal, other)
        ]
    facts = situation.facts
    flags = sorted(facts.get("flags", []))
    next_text, next_overdue = time_left(situation.next_deadline, now)
    partners = _partners(session, situation)
    signals = _signals(situation_signals(session, situation), personal, territory_map)
    if personal:
        audit(session, principal, "situation.read", now=now, client=client_address(request), situation_id=situation.id)
        session.commit()
    return render(
        request,
        "situation.html",
        principal=principal,
        status=failure.status if failure else 200,
        title=f"Situation {situation.primary_fiche} — {status_label(situation.status)}",
        s=situation,
        short_id=situation.id[:8],
        status_label=status_label(situation.status),
        outcome_label=OUTCOME_LABELS.get(situation.outcome or "", situation.outcome),
        personal=personal,
        may_act=may_act,
        allowed=allowed,
        people=people_words(facts.get("people", {})),
        flags=[FLAG_LABELS.get(f, f) for f in flags],
        current_flags=set(flags),
        flag_options=[(f, FLAG_LABELS.get(f, f)) for f in FLAGS],
        directives=[_directive_words(code) for code in situation.decision.get("directives", [])],
        fiches=fiches,
        checklist=items,
        is_open=situation.status in OPEN_STATUSES,
        partners=partners,
        deadlines=_deadlines(situation, now),
        next_text=next_text,
        next_overdue=next_overdue,
        escalations=[ESCALATION_REASONS.get(r, r) for r in situation.escalation_reasons],
        map=_map(situation, personal, signals, territory_map),
        signals=signals,
        timeline=_timeline(events, personal),
        candidates=candidates,
        outcome_options=list(OUTCOME_LABELS.items()),
        contact_options=list(CONTACT_LABELS.items()),
        failure=failure,
        done=DONE_MESSAGES.get(done or ""),
    )


@router.get("/situations/{situation_id}")
def read_situation(
    situation_id: str,
    request: Request,
    session: SessionDep,
    principal: Coordination,
    territory_map: TerritoryDep,
    fait: str | None = None,
) -> Response:
    statement_by_statement(session)  # reads, then the read's audit entry committed by its own INSERT
    situation = visible_situation(principal, session.get(Situation, situation_id))
    return situation_page(request, session, principal, situation, territory_map, done=fait)


# --- Acting --------------------------------------------------------------------------------------------------


def _one(form: Form, name: str) -> str | None:
    return form_value(form, name) or None


def _body(form: Form, action: str, situation: Situation) -> dict[str, Any]:
    """The form's fields as the API's body for `action` (the same schema then checks them)."""
    if action == "contacts":
        return {"result": _one(form, "result"), "note": _one(form, "note")}
    if action == "resolve":
        return {"outcome": _one(form, "outcome"), "note": _one(form, "note")}
    if action in ("reopen", "escalate"):
        return {"reason": _one(form, "reason")}
    if action == "requalify":
        wanted = set(form.get("flags", []))
        current = set(situation.facts.get("flags", []))
        return {"add_flags": sorted(wanted - current), "remove_flags": sorted(current - wanted)}
    if action == "merge":
        return {"into": _one(form, "into")}
    return {}


SCHEMAS: dict[str, type[BaseModel]] = {
    "contacts": ContactIn,
    "resolve": ResolveIn,
    "reopen": ReasonIn,
    "escalate": ReasonIn,
    "requalify": RequalifyIn,
    "merge": MergeIn,
}
FORM_FIELDS = {"add_flags": "flags", "remove_flags": "flags", "result": "result", "outcome": "outcome"}


def _parsed(form: Form, action: str, situation: Situation) -> BaseModel | Tick | None:
    """The action's body from the form, checked by the API's schema (none for `acknowledge`)."""
    if action == CHECKLIST:
        return Tick(form_value(form, "item"), done=form_value(form, "done") == "1")
    schema = SCHEMAS.get(action)
    if schema is None:
        return None
    try:
        return schema.model_validate(_body(form, action, situation))
    except ValidationError as err:
        raise InvalidInput(field_errors(err.errors())) from err


def _errors(found: list[FieldError]) -> Errors:
    errors: Errors = {}
    for error in found:
        field = FORM_FIELDS.get(error.field.split(".")[0], error.field.split(".")[0])
        message = "choisissez une réponse" if error.rule in ("missing", "literal_error") else error.message
        errors.setdefault(field, message)
    return errors


def _not_proposed(_: Situation | None) -> DomainError:
    """The page proposes only the situations its reader may merge into: any other target is not one of them."""
    return InvalidInput([FieldError("into", "not_found", "choisissez une situation proposée")])


@router.post("/situations/{situation_id}/{action}")
def act(
    situation_id: str,
    action: str,
    request: Request,
    session: SessionDep,
    principal: Coordination,
    territory_map: TerritoryDep,
    form: PageForm,
) -> Response:
    situation = visible_situation(principal, session.get(Situation, situation_id))
    if action not in ACTIONS:
        raise PageRefusal(404, "action inconnue")
    client = client_address(request)
    try:
        body = _parsed(form, action, situation)
        if isinstance(body, MergeIn):
            merge(session, principal, situation_id, body.into, client=client, refuse_target=_not_proposed)
        else:
            take(session, principal, situation_id, action, body, client=client)
    except InvalidInput as err:
        session.rollback()
        failure = Failure(action, _errors(err.errors), 422)
        return situation_page(request, session, principal, situation, territory_map, failure=failure)
    except Conflict as err:
        session.rollback()
        fresh = session.get(Situation, situation_id, populate_existing=True) or situation
        failure = Failure(action, {"": err.detail}, 409)
        return situation_page(request, session, principal, fresh, territory_map, failure=failure)
    anchor = "liste" if action == CHECKLIST else "actions"
    return RedirectResponse(f"/situations/{situation_id}?fait={action}#{anchor}", status_code=303)
