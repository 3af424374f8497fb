"""`/admin/fiches`: the fiches réflexes as published versions, for admins and the MUS. The history with a diff
of each version, a draft written as the fiche's YAML file, its impact on the last 90 days, publish, roll back:
each change made and audited by `services.api.fiche_changes`, as `/v1/fiches` makes it."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from services.api import fiche_changes
from services.api.deps import SessionDep, TerritoryDep, client_address
from services.api.web.auth import PageForm, PageRefusal, PageRoute, form_value, require_page_rule
from services.api.web.formats import IMPACT_LABELS, PUBLICATION_LABELS
from services.api.web.render import render
from services.core.access import Principal
from services.core.access.policy import check_fiches_editor, may_see_impact_examples
from services.core.clock import utc_now
from services.core.errors import Conflict, InvalidInput
from services.core.fiches.impact import draft_impact
from services.core.fiches.loader import parse_document
from services.core.fiches.schema import DeadlinesModel, FicheModel
from services.core.fiches.versions import (
    draft_books,
    fiche_history,
    file_of,
    get_draft,
    in_force_publication,
)
from services.core.models import FicheDraft
from services.core.procedures import fiches_in_force
from services.core.territory import TerritoryMap

router = APIRouter(route_class=PageRoute, include_in_schema=False)
IMPACT_DAYS = 90
DONE = {"publie": "Brouillon publié : il s'applique aux nouvelles décisions.", "retour": "Version remise en vigueur."}


Editor = Annotated[Principal, Depends(require_page_rule(check_fiches_editor, "coordinator", "admin"))]


def as_yaml(document: dict[str, Any]) -> str:
    """The document as its file is written: the fields in the schema's order (the database keeps no order)."""
    order = list(FicheModel.model_fields)
    ordered = {key: document[key] for key in sorted(document, key=lambda k: order.index(k) if k in order else 99)}
    if isinstance(ordered.get("deadlines"), dict):
        deadlines = ordered["deadlines"]
        ordered["deadlines"] = {k: deadlines[k] for k in DeadlinesModel.model_fields if k in deadlines}
    return yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=100)


def diff_lines(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, str]]:
    """A readable diff: changed lines with a word for who does not see colours, unchanged context between."""
    old = as_yaml(before).splitlines() if before is not None else []
    lines = []
    for line in difflib.unified_diff(old, as_yaml(after).splitlines(), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append({"kind": "cut", "text": "…"})
        elif line.startswith("+"):
            lines.append({"kind": "added", "text": line[1:]})
        elif line.startswith("-"):
            lines.append({"kind": "removed", "text": line[1:]})
        else:
            lines.append({"kind": "same", "text": line[1:]})
    return lines


@router.get("/admin/fiches")
def fiches_page(request: Request, session: SessionDep, principal: Editor, fait: str | None = None) -> Response:
    current = in_force_publication(session, utc_now())
    session.commit()  # the seed, if this was the first look at a new database
    book = fiches_in_force(session)
    return render(
        request,
        "fiches.html",
        principal=principal,
        title="Fiches réflexes",
        publication=current,
        fiches=list(book),
        done=DONE.get(fait or ""),
    )


def _fiche_page(
    request: Request,
    session: Session,
    principal: Principal,
    code: str,
    *,
    text: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    current = in_force_publication(session, utc_now())
    if file_of(code) not in current.documents:
        raise PageRefusal(404, f"fiche inconnue : {code}")
    history = fiche_history(session, code)
    drafts = session.exec(
        select(FicheDraft)
        .where(col(FicheDraft.code) == code, col(FicheDraft.published_at).is_(None))
        .order_by(col(FicheDraft.created_at).desc())
        .limit(20)
    ).all()
    versions = [
        {"version": v, "kind": PUBLICATION_LABELS.get(v.kind, v.kind), "diff": diff_lines(v.previous, v.document)}
        for v in history
    ]
    return render(
        request,
        "fiche.html",
        principal=principal,
        status=status,
        title=f"Fiche {code}",
        code=code,
        label=fiches_in_force(session).label(code),
        in_force=current.versions[code],
        text=text if text is not None else as_yaml(current.documents[file_of(code)]),
        errors=errors or [],
        drafts=drafts,
        versions=versions,
    )


@router.get("/admin/fiches/{code}")
def fiche_page(code: str, request: Request, session: SessionDep, principal: Editor) -> Response:
    response = _fiche_page(request, session, principal, code[:20])
    session.commit()
    return response


@router.post("/admin/fiches/{code}/brouillons")
def new_draft(code: str, request: Request, session: SessionDep, principal: Editor, form: PageForm) -> Response:
    code = code[:20]
    text = form_value(form, "document", limit=60_000, strip=False)
    try:
        document = parse_document(text)
        if isinstance(document, dict) and document.get("code") != code:
            raise ValueError(f"code : la fiche de cette page est {code}")
        draft = fiche_changes.draft(session, principal, document, client=client_address(request))
    except ValueError as err:
        return _fiche_page(request, session, principal, code, text=text, errors=[str(err)], status=422)
    except InvalidInput as err:
        session.rollback()
        errors = [f"{e.field} : {e.message}" for e in err.errors]
        return _fiche_page(request, session, principal, code, text=text, errors=errors, status=422)
    return RedirectResponse(f"/admin/fiches/brouillons/{draft.id}", status_code=303)


def _draft_page(
    request: Request,
    session: Session,
    principal: Principal,
    territory_map: TerritoryMap,
    draft_id: str,
    *,
    error: str | None = None,
) -> Response:
    now = utc_now()
    draft = get_draft(session, draft_id)
    before, after = draft_books(session, draft, now=now)
    impact = draft_impact(session, before, after, territory_map, days=IMPACT_DAYS, now=now)
    current = in_force_publication(session, now)
    return render(
        request,
        "fiche_draft.html",
        principal=principal,
        status=409 if error else 200,
        title=f"Brouillon de la fiche {draft.code}",
        draft=draft,
        in_force=current.versions.get(draft.code),
        diff=diff_lines(current.documents.get(file_of(draft.code)), draft.document),
        impact=impact,
        changes=[(IMPACT_LABELS[name], count) for name, count in impact.changed.items()],
        examples=impact.examples if may_see_impact_examples(principal) else [],
        error=error,
    )


@router.get("/admin/fiches/brouillons/{draft_id}")
def draft_page(
    draft_id: str, request: Request, session: SessionDep, principal: Editor, territory_map: TerritoryDep
) -> Response:
    response = _draft_page(request, session, principal, territory_map, draft_id)
    session.commit()
    return response


@router.post("/admin/fiches/brouillons/{draft_id}/publier")
def publish(
    draft_id: str,
    request: Request,
    session: SessionDep,
    principal: Editor,
    territory_map: TerritoryDep,
    form: PageForm,
) -> Response:
    draft_id, reason = draft_id[:36], form_value(form, "reason", limit=1000)
    try:
        fiche_changes.publish(session, principal, draft_id, reason=reason, client=client_address(request))
    except Conflict as err:
        session.rollback()
        return _draft_page(request, session, principal, territory_map, draft_id, error=err.detail)
    code = get_draft(session, draft_id).code
    return RedirectResponse(f"/admin/fiches?fait=publie#{code}", status_code=303)


@router.post("/admin/fiches/{code}/retour")
def roll_back(code: str, request: Request, session: SessionDep, principal: Editor, form: PageForm) -> Response:
    code, to, reason = code[:20], form_value(form, "to", limit=100), form_value(form, "reason", limit=1000)
    try:
        fiche_changes.roll_back(session, principal, code, to, reason=reason, client=client_address(request))
    except (Conflict, InvalidInput) as err:
        session.rollback()
        return _fiche_page(request, session, principal, code, errors=[err.detail], status=409)
    return RedirectResponse(f"/admin/fiches?fait=retour#{code}", status_code=303)
