"""`/admin`: tokens and people (create, revoke), the directory of structures, the dead letters. The same core
functions as `/v1/tokens`, `/v1/users`, `/v1/directory` and `/v1/dead-letters`, for admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from services.api.deps import SessionDep, TerritoryDep, client_address
from services.api.web.auth import READS_FORM, PageForm, PageRoute, form_value, require_page_roles
from services.api.web.formats import ITEM_LABELS, ROLE_LABELS, TASK_LABELS
from services.api.web.render import render
from services.core.access import ROLES, Principal
from services.core.access.tokens import TokenError, create_token, list_tokens, revoke_token
from services.core.access.users import UserError, create_user, disable_user, list_users
from services.core.alerts.directory import list_structures
from services.core.clock import utc_now
from services.core.deadletters import list_dead_letters, replay, replay_waiting, waiting_ids
from services.core.errors import Conflict, NotFound

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Admin = Annotated[Principal, Depends(require_page_roles("admin"))]
DEAD_LETTERS_SHOWN = 50
FIELD_LIMIT, LEADS_LIMIT = 200, 2000  # characters kept of a short field, of the list of leads
DONE = {
    "jeton-revoque": "Jeton révoqué.",
    "personne-creee": "Personne créée : elle peut se connecter.",
    "personne-desactivee": "Personne désactivée : ses sessions sont closes.",
    "lettre-rejouee": "Lettre morte rejouée : le travail est reparti.",
}


def _leads(text: str) -> list[str]:
    return [lead for lead in (part.strip() for part in text.replace(";", ",").split(",")) if lead]


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    secret: str | None = None,
    done: str | None = None,
    replayed: list[str] | None = None,
    status: int = 200,
) -> Response:
    letters = list_dead_letters(session, limit=DEAD_LETTERS_SHOWN).items
    return render(
        request,
        "admin.html",
        principal=principal,
        status=status,
        title="Administration",
        tokens=list_tokens(session),
        users=list_users(session),
        structures=list_structures(session),
        letters=letters,
        waiting_letters=len(waiting_ids(session)),
        task_labels=TASK_LABELS,
        item_labels=ITEM_LABELS,
        roles=[(role, ROLE_LABELS.get(role, role)) for role in ROLES],
        errors=errors or {},
        secret=secret,
        done=DONE.get(done or ""),
        replayed=replayed,
    )


@router.get("/admin")
def admin_page(request: Request, session: SessionDep, principal: Admin, fait: str | None = None) -> Response:
    return _page(request, session, principal, done=fait)


def _done(session: Session, done: str, section: str) -> Response:
    """Committed: back to the page, saying what was done (`DONE`), at its section."""
    session.commit()
    return RedirectResponse(f"/admin?fait={done}#{section}", status_code=303)


@router.post("/admin/jetons")
def new_token(
    request: Request, session: SessionDep, principal: Admin, territory_map: TerritoryDep, form: PageForm
) -> Response:
    try:
        secret = create_token(
            session,
            role=form_value(form, "role", limit=FIELD_LIMIT),
            leads=_leads(form_value(form, "leads", limit=LEADS_LIMIT)),
            territory_map=territory_map,
            name=form_value(form, "name", limit=FIELD_LIMIT) or None,
        )
    except TokenError as err:
        return _page(request, session, principal, errors={"token": str(err)}, status=422)
    session.commit()
    # Shown once, on this very answer (never put in a URL): no redirect here.
    return _page(request, session, principal, secret=secret, status=201)


@router.post("/admin/jetons/{token_id}/revoquer", dependencies=[READS_FORM])
def revoke(token_id: str, session: SessionDep, _: Admin) -> Response:
    revoke_token(session, token_id, utc_now())
    return _done(session, "jeton-revoque", "jetons")


@router.post("/admin/personnes")
def new_user(
    request: Request, session: SessionDep, principal: Admin, territory_map: TerritoryDep, form: PageForm
) -> Response:
    try:
        create_user(
            session,
            username=form_value(form, "username", limit=100),
            password=form_value(form, "password", strip=False),
            role=form_value(form, "role", limit=FIELD_LIMIT),
            leads=_leads(form_value(form, "leads", limit=LEADS_LIMIT)),
            territory_map=territory_map,
            now=utc_now(),
        )
    except UserError as err:
        session.rollback()
        return _page(request, session, principal, errors={"user": str(err)}, status=422)
    return _done(session, "personne-creee", "personnes")


@router.post("/admin/personnes/{user_id}/desactiver", dependencies=[READS_FORM])
def disable(user_id: str, session: SessionDep, _: Admin) -> Response:
    try:
        disable_user(session, user_id, utc_now())
    except UserError:
        return RedirectResponse("/admin#personnes", status_code=303)
    return _done(session, "personne-desactivee", "personnes")


# Dead letters: replayed by the same core function as `POST /v1/dead-letters/{id}/replay` (audited the same way,
# with this admin as the one who replayed), one or all of them; a refusal is said in the section, nothing changed.


@router.post("/admin/lettres-mortes/{letter_id}/rejouer", dependencies=[READS_FORM])
def replay_letter(
    letter_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: SessionDep, principal: Admin
) -> Response:
    try:
        replay(session, letter_id, principal=principal, now=utc_now(), client=client_address(request))
    except (Conflict, NotFound) as err:
        session.rollback()
        status = 404 if isinstance(err, NotFound) else 409
        return _page(request, session, principal, errors={"letters": err.detail}, status=status)
    return _done(session, "lettre-rejouee", "lettres")


@router.post("/admin/lettres-mortes/rejouer", dependencies=[READS_FORM])
def replay_all_letters(request: Request, session: SessionDep, principal: Admin) -> Response:
    outcomes = replay_waiting(session, principal=principal, now=utc_now(), client=client_address(request))
    session.commit()
    said = [
        f"n° {outcome.letter_id} rejouée" if outcome.refusal is None else f"n° {outcome.letter_id} : {outcome.refusal}"
        for outcome in outcomes
    ]
    # Shown on this answer (what each became), like the CLI's `replay --all`.
    return _page(request, session, principal, replayed=said or ["Aucune lettre morte à rejouer."])
