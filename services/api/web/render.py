"""One Jinja2 environment for every page, the layout's context (person, navigation, CSRF token) and the French
refusal pages. Pages load nothing from elsewhere: the policy below allows only this site's own files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.api.web.formats import ROLE_LABELS, actor_text, lead_label, paris_time, sector_label
from services.core.access import Principal
from services.core.clock import utc_now
from services.core.leads import LEAD_MUS
from services.core.stats.semesters import Semester

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # the templates ship with the code: no stat() of each file at each use (a queue row each)
)
# Own files only (no inline script or style: the templates carry none); `connect-src` for the live queue,
# `worker-src`/`manifest-src` for the outreach app's service worker and manifest.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
REFUSAL_TITLES = {
    400: "Demande incomplète",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible",
    408: "Délai dépassé",
    409: "Action impossible dans l'état actuel",
    413: "Envoi trop volumineux",
    415: "Type de contenu non pris en charge",
    422: "Données invalides",
    429: "Trop de demandes",
    503: "Service momentanément indisponible",
}
REFUSAL_TEXTS = {
    403: "Cette page n'est pas accessible avec vos droits.",
    404: "Cette page n'existe pas, ou plus.",
    409: "Cette action n'est pas possible dans l'état actuel de la situation.",
    429: "Trop de demandes en peu de temps : réessayez dans une minute.",
    503: "Le service est momentanément indisponible : réessayez dans quelques secondes.",
}


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str


def home_path(principal: Principal) -> str:
    """Where `/` sends each person (contract: pages-v1, « Everyone »)."""
    if principal.role == "outreach":
        return "/signaler"
    if principal.role == "analyst":
        return f"/dashboards/{Semester.of(utc_now()).code}"
    if principal.role == "admin":
        return "/admin"
    if principal.is_mus:
        return "/file/mus"
    return f"/file/{sorted(principal.leads)[0]}" if principal.leads else "/connexion"


def nav(principal: Principal | None) -> list[NavLink]:
    """The header's links for this person: only pages it may open."""
    if principal is None:
        return []
    links: list[NavLink] = []
    if principal.role == "outreach":
        links += [NavLink("/signaler", "Signaler"), NavLink("/mes-signalements", "Mes signalements")]
    elif principal.role == "coordinator":
        leads = [LEAD_MUS] if principal.is_mus else []
        leads += sorted(lead for lead in principal.leads if lead != LEAD_MUS)
        for lead in leads:
            links.append(NavLink(f"/file/{lead}", f"File {lead_label(lead)}"))
        first = leads[0]
        links.append(NavLink(f"/carte/{first}", "Carte"))
        if principal.is_mus:
            links.append(NavLink("/meteo", "Plan météo"))
            links.append(NavLink("/admin/fiches", "Fiches réflexes"))
        links.append(NavLink("/signaler", "Signaler"))
    elif principal.role == "admin":
        links += [
            NavLink("/admin", "Administration"),
            NavLink("/file/mus", "File MUS"),
            NavLink("/meteo", "Plan météo"),
            NavLink("/admin/fiches", "Fiches réflexes"),
        ]
    if principal.role in ("analyst", "admin") or principal.is_mus:
        links.append(NavLink(f"/dashboards/{Semester.of(utc_now()).code}", "Tableau de bord"))
    return links


ENVIRONMENT.globals.update(sector_label=sector_label, lead_label=lead_label)
ENVIRONMENT.filters.update(paris=paris_time, actor=lambda actor: actor_text(actor) if actor else "")


def _person(principal: Principal | None) -> str | None:
    if principal is None:
        return None
    who = principal.name or f"jeton {principal.id[:8]}"
    return f"{who} ({ROLE_LABELS.get(principal.role, principal.role)})"


def render(
    request: Request,
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the layout: the signed-in person, its navigation, the session's CSRF token for the forms."""
    html = ENVIRONMENT.get_template(template).render(
        request_path=request.url.path,
        csrf_token=getattr(request.state, "csrf_token", ""),
        principal=principal,
        person=_person(principal),
        nav=nav(principal),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY, **(headers or {})})


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/connexion?{urlencode({'next': target})}", status_code=303)


def refusal(request: Request, status: int, principal: Principal | None, detail: str | None = None) -> Response:
    """The French refusal page (never JSON): 401 sends to the sign-in page and back; others say why, with a
    way back."""
    if status == 401:
        return sign_in_redirect(request)
    title = REFUSAL_TITLES.get(status, "Erreur")
    text = REFUSAL_TEXTS.get(status, "La demande n'a pas pu aboutir.")
    headers = {"Retry-After": "5"} if status == 503 else None
    return render(
        request,
        "refusal.html",
        principal=principal,
        status=status,
        headers=headers,
        status_code=status,
        title=title,
        text=text,
        detail=detail,
        back=home_path(principal) if principal is not None else "/connexion",
    )
