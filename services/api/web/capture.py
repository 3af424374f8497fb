"""The outreach teams' capture app: `/signaler` (the signal form), `/mes-signalements` (what became of them), and
what makes it an installable offline app (`/sw.js` at the root scope, `/manifest.webmanifest`).

One intake: the form's fields become the API's body and go through the same schema (`SignalIn`) and the same
`accept` as `POST /v1/signals`, with its Idempotency-Key. A plain form post (no JavaScript) is answered with the
page; the page's script posts the same form asking for JSON, to show the directives without reloading."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from services.api.deps import client_address
from services.api.intake import accept, checked_key
from services.api.problems import field_errors, problem
from services.api.web.auth import CSRF_FIELD, Form, PageForm, PageRoute, form_value, require_page_roles
from services.api.web.formats import OUTCOME_LABELS, SOURCE_LABELS, lead_label, paris_time, people_words, sector_label
from services.api.web.render import PAGE_POLICY, STATIC_DIR, render
from services.core.access import Principal
from services.core.access.audit import audit
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.errors import Conflict, FieldError, InvalidInput
from services.core.facts import AGE_BANDS, FLAGS, GENDERS
from services.core.fiches.vocabulary import AGE_BAND_LABELS, FLAG_LABELS, GENDER_LABELS
from services.core.signals.intake import Accepted
from services.core.signals.mine import SubmittedSignal, submitted_signals
from services.core.signals.schemas import SignalIn
from services.core.signals.words import SAFETY_CALLS, Call, calls_for
from services.core.situations.status import OPEN_STATUSES

router = APIRouter(route_class=PageRoute, include_in_schema=False)
# Who may send a signal: the same roles as `POST /v1/signals`.
Reporter = Annotated[Principal, Depends(require_page_roles("outreach", "coordinator", "admin"))]

PEOPLE_COUNTS = (
    ("adults", "Adultes", "un adulte"),
    ("children", "Enfants", "un enfant"),
    ("unaccompanied_minors", "Mineurs non accompagnés", "un mineur non accompagné"),
)
# Adults' genders and age bands, when known, as counts (the API's lists may be partial): one field per value.
GENDER_FIELDS = {code: f"gender_{code}" for code in GENDERS if code != "unknown"}
AGE_FIELDS = {code: "age_" + code.replace("-", "_").replace("+", "_plus") for code in AGE_BANDS if code != "unknown"}
DEFAULT_SOURCE = "maraude"

# Where the schema's rules name JSON fields, the page says it with the form's words (same rule, same check).
RULE_LOCATION = "Indiquez votre position, un code postal ou un arrondissement."
RULE_PEOPLE = "Indiquez au moins une personne (sauf campement ou décès)."
_PAGE_WORDS: dict[tuple[str, str], str] = {
    ("location", "missing"): RULE_LOCATION,
    ("location", "value_error"): RULE_LOCATION,
    ("postcode", "string_pattern_mismatch"): "Un code postal a 5 chiffres (par exemple 75013).",
    ("people", "value_error"): RULE_PEOPLE,
    ("genders", "value_error"): "Plus de genres indiqués que d'adultes.",
    ("ages", "value_error"): "Plus d'âges indiqués que d'adultes.",
    ("general", "reused"): "Ce signalement a déjà été envoyé avec un autre contenu : rechargez la page.",
}


def _ordinal(n: int) -> str:
    return f"{n}{'er' if n == 1 else 'e'}"


ARRONDISSEMENTS = tuple((n, f"{_ordinal(n)} arrondissement") for n in range(1, 21))


# ---- form → the API's body ------------------------------------------------------------------------------


def _integer(raw: str) -> int | str:
    """A count as typed: a number when it is one, else the text, which the schema refuses in its words."""
    try:
        return int(raw)
    except ValueError:
        return raw


def _number(raw: str) -> float | str:
    try:
        return float(raw)
    except ValueError:
        return raw


def _location(form: Form) -> dict[str, Any] | None:
    """The phone's position when it gave one (with the postcode if typed too), else the postcode, else the
    arrondissement: the API's three forms of a place."""
    lat, lon, postcode, arrondissement = (
        form_value(form, name) for name in ("lat", "lon", "postcode", "arrondissement")
    )
    if lat and lon:
        return {"lat": _number(lat), "lon": _number(lon), **({"postcode": postcode} if postcode else {})}
    if postcode:
        return {"postcode": postcode}
    if arrondissement:
        return {"arrondissement": _integer(arrondissement)}
    return None


def _details(form: Form, fields: dict[str, str], errors: list[FieldError]) -> list[str] | None:
    """Counts per value (« 2 femmes ») → the API's list of values; None when nothing is known."""
    values: list[str] = []
    for code, name in fields.items():
        raw = form_value(form, name)
        count = _integer(raw) if raw else 0
        if not isinstance(count, int) or not 0 <= count <= 500:
            errors.append(FieldError(name, "int_parsing", "doit être un nombre entre 0 et 500"))
            continue
        values += [code] * count
    return values or None


def signal_body(form: Form) -> tuple[dict[str, Any], list[FieldError]]:
    """The API's JSON body for a form (and the errors only the form can make: its per-value counts)."""
    errors: list[FieldError] = []
    people: dict[str, Any] = {}
    for name, _, _ in PEOPLE_COUNTS:
        raw = form_value(form, name)
        people[name] = _integer(raw) if raw else 0
    genders, ages = _details(form, GENDER_FIELDS, errors), _details(form, AGE_FIELDS, errors)
    if genders is not None:
        people["adult_genders"] = genders
    if ages is not None:
        people["adult_age_bands"] = ages
    body: dict[str, Any] = {
        "source": form_value(form, "source") or DEFAULT_SOURCE,
        "flags": [flag for flag in form.get("flags", []) if flag],
        "people": people,
    }
    location = _location(form)
    if location is not None:
        body["location"] = location
    for name in ("place", "description", "observed_at"):
        if value := form_value(form, name):
            body[name] = value
    return body, errors


def _form_field(error: FieldError) -> str:
    """The form's name for a field of the API's body."""
    parts = error.field.split(".")
    head = parts[0]
    if head == "location":
        return parts[1] if len(parts) > 1 and parts[1] in ("postcode", "arrondissement") else "location"
    if head == "people":
        if len(parts) > 1:
            return {"adult_genders": "genders", "adult_age_bands": "ages"}.get(parts[1], parts[1])
        # The adults' lists are checked on `people` as a whole; their message starts with the list's name.
        for name, field in (("adult_genders", "genders"), ("adult_age_bands", "ages")):
            if error.message.startswith(name):
                return field
        return "people"
    named = ("flags", "place", "description", "source", "observed_at", *GENDER_FIELDS.values(), *AGE_FIELDS.values())
    return head if head in named else "general"


def page_errors(errors: list[FieldError]) -> list[FieldError]:
    """The API's field errors on the form's fields, in the form's words."""
    result = []
    for error in errors:
        field = _form_field(error)
        result.append(FieldError(field, error.rule, _PAGE_WORDS.get((field, error.rule), error.message)))
    return result


def parse_signal(form: Form) -> SignalIn:
    """The form as the API's validated payload (its very schema), or InvalidInput with the API's field errors."""
    body, errors = signal_body(form)
    try:
        payload = SignalIn.model_validate(body)
    except ValidationError as err:
        raise InvalidInput(errors + field_errors(err.errors())) from err
    if errors:
        raise InvalidInput(errors)
    return payload


# ---- the words of the answer ---------------------------------------------------------------------------


def call_view(call: Call) -> dict[str, str]:
    return {"number": call.number, "words": call.words, "why": call.why, "href": call.href}


def answer_view(accepted: Accepted) -> dict[str, Any]:
    """The 202 of the API, and the directives as calls to make (what the page's script shows)."""
    return {**accepted.response, "calls": [call_view(call) for call in calls_for(accepted.response["directives"])]}


@dataclass(frozen=True)
class SentView:
    """One line of `/mes-signalements`, in words."""

    id: str
    received: str
    people: str
    flags: list[str]
    place: str | None
    oriented: str
    acknowledged: str
    outcome: str
    calls: list[Call]


def sent_view(signal: SubmittedSignal) -> SentView:
    if signal.status == "out_of_territory":
        oriented = "Hors de Paris : transmis à la Mission Urgence Sociale"
    elif signal.lead is None:
        oriented = "Orientation en cours" + (" (incident signalé à l'équipe)" if signal.routing_failed else "")
    else:
        oriented = (
            f"{lead_label(signal.lead)} ({sector_label(signal.sector)})" if signal.sector else lead_label(signal.lead)
        )
    if signal.acknowledged_at is not None:
        acknowledged = f"Oui, le {paris_time(signal.acknowledged_at)}"
    else:
        acknowledged = "Pas encore" if signal.situation_status is not None else "—"
    if signal.outcome is not None:
        outcome = OUTCOME_LABELS.get(signal.outcome, signal.outcome)
    elif signal.situation_status in OPEN_STATUSES:
        outcome = "En cours"
    else:
        outcome = "—"
    return SentView(
        id=signal.id,
        received=paris_time(signal.received_at),
        people=people_words(signal.people),
        flags=[FLAG_LABELS.get(flag, flag) for flag in signal.flags],
        place=signal.place,
        oriented=oriented,
        acknowledged=acknowledged,
        outcome=outcome,
        calls=calls_for(signal.directives),
    )


# ---- pages ---------------------------------------------------------------------------------------------


def _form_context(
    form: Form | None = None, errors: list[FieldError] | None = None, key: str | None = None
) -> dict[str, Any]:
    form = form or {}
    by_field: dict[str, str] = {}
    for error in errors or []:
        by_field[error.field] = f"{by_field[error.field]} {error.message}" if error.field in by_field else error.message
    values = {name: form_value(form, name) for name in form if name not in (CSRF_FIELD, "idempotency_key")}
    return {
        "values": values,
        "checked_flags": set(form.get("flags", [])),
        "errors": by_field,
        # Made with the page: a second press of the same form (a double tap, a reload) is the same signal.
        "idempotency_key": key or secrets.token_urlsafe(24),
        "counts": PEOPLE_COUNTS,
        "genders": [(GENDER_FIELDS[code], GENDER_LABELS[code]) for code in GENDER_FIELDS],
        "ages": [(AGE_FIELDS[code], AGE_BAND_LABELS[code]) for code in AGE_FIELDS],
        "flags": [(code, FLAG_LABELS[code]) for code in FLAGS],
        "sources": list(SOURCE_LABELS.items()),
        "default_source": DEFAULT_SOURCE,
        "arrondissements": ARRONDISSEMENTS,
        "safety_calls": SAFETY_CALLS,
        "rule_location": RULE_LOCATION,
        "rule_people": RULE_PEOPLE,
    }


@router.get("/signaler")
def capture_page(request: Request, principal: Reporter) -> Response:
    return render(request, "capture.html", principal=principal, **_form_context())


@router.post("/signaler")
async def submit(request: Request, principal: Reporter, form: PageForm) -> Response:
    """A plain form post answers with the page; the page's script asks for JSON (`Accept`) to stay on it."""
    wants_json = "application/json" in request.headers.get("accept", "")
    raw_key = request.headers.get("idempotency-key") or form_value(form, "idempotency_key") or None
    try:
        payload = parse_signal(form)
        accepted = await accept(payload, principal.id, checked_key(raw_key))
    except InvalidInput as err:
        errors = page_errors(err.errors)
        if wants_json:
            return problem(422, "le signalement n'est pas valide", errors=errors)
        context = _form_context(form, errors, key=raw_key)
        return render(request, "capture.html", principal=principal, status=422, **context)
    except Conflict as err:  # the same key still in flight: the first press is being handled
        if wants_json:
            return problem(409, err.detail)
        context = _form_context(form, [FieldError("general", "in_flight", "Envoi déjà en cours : patientez.")])
        return render(request, "capture.html", principal=principal, status=409, **context)
    answer = answer_view(accepted)
    if wants_json:
        return JSONResponse(answer, status_code=202, headers={"Location": answer["links"]["self"]})
    return render(request, "capture.html", principal=principal, result=answer, **_form_context())


@router.get("/mes-signalements")
async def my_signals_page(request: Request, principal: Reporter) -> Response:
    lines = await run_in_threadpool(_my_signals, principal, client_address(request))
    return render(request, "my_signals.html", principal=principal, sent=lines, safety_calls=SAFETY_CALLS)


def _my_signals(principal: Principal, client: str | None) -> list[SentView]:
    with session_scope() as session:
        signals = submitted_signals(session, principal)
        now = utc_now()
        for signal in signals:
            if signal.place is not None:  # personal data shown: recorded, as the API records its reads
                audit(session, principal, "signal.read", now=now, client=client, signal_id=signal.id)
        session.commit()
        return [sent_view(signal) for signal in signals]


# ---- the installable app: service worker and manifest ----------------------------------------------------

# The files the service worker keeps (the pages themselves are kept as they are visited).
SHELL_FILES = ("site.css", "capture.js", "icons/icon.svg", "icons/icon-192.png")


@cache
def _service_worker() -> str:
    """`sw.js` with its version: a digest of the shell's files and of itself, so any change is a new cache."""
    digest = hashlib.sha256()
    source = (STATIC_DIR / "sw.js").read_text("utf-8")
    digest.update(source.encode())
    for name in SHELL_FILES:
        path = STATIC_DIR / name
        if path.exists():
            digest.update(path.read_bytes())
    shell = [f"/static/{name}" for name in SHELL_FILES] + ["/manifest.webmanifest"]
    return source.replace("__VERSION__", digest.hexdigest()[:16]).replace("__SHELL__", json.dumps(shell))


@router.get("/sw.js")
def service_worker() -> Response:
    return Response(
        _service_worker(),
        media_type="text/javascript",
        # Checked on every visit: a new version reaches phones at once. Root scope: it keeps `/signaler`.
        # Its own policy: the worker fetches this site's pages and files, nothing else.
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/", "Content-Security-Policy": PAGE_POLICY},
    )


MANIFEST = {
    "name": "urgence — signaler",
    "short_name": "Signaler",
    "description": "Signaler une personne ou une famille à la rue, même sans réseau, et suivre ce qu'il advient.",
    "lang": "fr",
    "dir": "ltr",
    "start_url": "/signaler",
    "scope": "/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#ffffff",
    "theme_color": "#17456e",
    "icons": [
        {"src": "/static/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {"src": "/static/icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
    ],
}


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    return Response(
        json.dumps(MANIFEST, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
