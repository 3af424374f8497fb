"""Signing in and out of the web pages (the dashboards). Same roles and leads as tokens."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.deps import SESSION_COOKIE, SessionDep, client_address, limiters
from services.api.web.auth import parse_form
from services.api.web.render import refusal
from services.core.access.users import check_password, end_session, open_session, resume_session
from services.core.clock import utc_now
from services.core.settings import get_settings

router = APIRouter(tags=["connexion"], include_in_schema=False)
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=select_autoescape(["html"]),
)
# Before signing in there is no session: the form's CSRF token is checked against this cookie (double submit).
PRE_SESSION_COOKIE = "urgence_csrf"
HOME = "/"
MAX_NEXT = 500
MAX_FIELDS = 10  # the sign-in form has four; more is not one of ours


def _safe_next(target: str | None) -> str:
    """Only paths on this site: an open redirect would let a link send people elsewhere after signing in."""
    if (
        target
        and len(target) <= MAX_NEXT
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and all(" " < ch != "\x7f" for ch in target)  # no control characters, no spaces in a header's path
    ):
        return target
    return HOME


def _cookie_flags() -> dict[str, bool | str]:
    return {"httponly": True, "samesite": "lax", "secure": get_settings().environment == "production"}


def _form(body: bytes) -> dict[str, str] | None:
    """The fields of a form body (the first value of each); None for one these forms never send: too many
    fields, or a NUL (which no text column can store)."""
    try:
        fields = parse_form(body, max_fields=MAX_FIELDS)
    except ValueError:
        return None
    if any("\x00" in name or any("\x00" in value for value in values) for name, values in fields.items()):
        return None
    return {name: values[0] for name, values in fields.items()}


def _invalid_form() -> Response:
    return _signin_page(next_path=HOME, error="Formulaire invalide : veuillez réessayer.", status=400)


def _signin_page(*, next_path: str, error: str | None = None, username: str = "", status: int = 200) -> Response:
    csrf = secrets.token_urlsafe(32)
    html = TEMPLATES.get_template("signin.html").render(csrf_token=csrf, next=next_path, error=error, username=username)
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(PRE_SESSION_COOKIE, csrf, max_age=3600, path="/connexion", **_cookie_flags())  # type: ignore[arg-type]
    return response


@router.get("/connexion")
def signin_form(next: str | None = None) -> Response:
    return _signin_page(next_path=_safe_next(next))


@router.post("/connexion")
async def signin(request: Request, session: SessionDep) -> Response:
    # The body is read here; password hashing and queries run off the event loop.
    form = _form(await request.body())
    if form is None:
        return _invalid_form()
    return await run_in_threadpool(_signin, request, session, form)


def _signin(request: Request, session: SessionDep, form: dict[str, str]) -> Response:
    next_path = _safe_next(form.get("next"))
    expected = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
        return _signin_page(next_path=next_path, error="Formulaire expiré : veuillez réessayer.", status=403)
    username = form.get("username", "")[:100]
    address = str(client_address(request))
    limits = limiters()
    # Only failures count: per username, and from the address with a much higher ceiling.
    wait = limits.signin_username.wait(username) or limits.signin_address.wait(address)
    if wait is not None:
        refused = _signin_page(next_path=next_path, error="Trop de tentatives : réessayez dans une minute.", status=429)
        refused.headers["Retry-After"] = str(int(wait))
        return refused
    user = check_password(session, username, form.get("password", ""))
    if user is None:
        limits.signin_username.record(username)
        limits.signin_address.record(address)
        return _signin_page(
            next_path=next_path, error="Identifiant ou mot de passe incorrect.", username=username, status=401
        )
    limits.signin_username.forget(username)  # the person is back: earlier typos no longer count against them
    opened = open_session(session, user, utc_now())
    session.commit()
    response = RedirectResponse(next_path, status_code=303)
    max_age = int(get_settings().session_hours * 3600)
    response.set_cookie(SESSION_COOKIE, opened.secret, max_age=max_age, path="/", **_cookie_flags())  # type: ignore[arg-type]
    response.delete_cookie(PRE_SESSION_COOKIE, path="/connexion")
    return response


@router.post("/deconnexion")
async def signout(request: Request, session: SessionDep) -> Response:
    form = _form(await request.body())
    if form is None:
        return refusal(request, 400, None, "formulaire de déconnexion invalide : veuillez réessayer")
    return await run_in_threadpool(_signout, request, session, form)


def _signout(request: Request, session: SessionDep, form: dict[str, str]) -> Response:
    response = RedirectResponse("/connexion", status_code=303)
    secret = request.cookies.get(SESSION_COOKIE)
    signed_in = resume_session(session, secret, utc_now()) if secret else None
    if signed_in is not None:
        if not hmac.compare_digest(form.get("csrf_token", ""), signed_in.csrf_token):
            return refusal(request, 403, None, "jeton CSRF manquant ou invalide")
        end_session(session, signed_in.session_id, utc_now())
        session.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
