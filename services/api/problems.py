"""RFC 9457 problem details for every error a client can cause, in French, naming each bad field."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from contextlib import suppress
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.web.render import refusal  # a browser gets the French page, never JSON
from services.core.errors import Conflict, DomainError, FieldError, Forbidden, InvalidInput, NotFound
from services.core.instants import RULES as INSTANT_RULES

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
DATABASE_RETRY_AFTER_SECONDS = 5
TYPE_BASE = "https://urgence.paris/problemes/"

_STATUS_TITLES = {
    400: "Requête mal formée",
    401: "Authentification requise",
    403: "Accès refusé",
    404: "Introuvable",
    405: "Méthode non autorisée",
    408: "Délai dépassé",
    409: "Conflit",
    413: "Requête trop volumineuse",
    415: "Type de contenu non pris en charge",
    422: "Données invalides",
    429: "Trop de requêtes",
    500: "Erreur interne",
    503: "Service indisponible",
}
_SLUGS = {
    400: "requete-mal-formee",
    401: "authentification-requise",
    403: "acces-refuse",
    404: "introuvable",
    405: "methode-non-autorisee",
    408: "delai-depasse",
    409: "conflit",
    413: "trop-volumineux",
    415: "type-non-pris-en-charge",
    422: "donnees-invalides",
    429: "trop-de-requetes",
    500: "erreur-interne",
    503: "service-indisponible",
}

# French wording of pydantic's rules; the rule name itself is kept for programs.
_MESSAGES: dict[str, str] = {
    "missing": "champ obligatoire",
    "extra_forbidden": "champ inconnu",
    "int_type": "doit être un entier",
    "int_parsing": "doit être un entier",
    "int_from_float": "doit être un entier",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "finite_number": "doit être un nombre fini",
    "string_type": "doit être une chaîne de caractères",
    "list_type": "doit être une liste",
    "model_type": "doit être un objet",
    "dict_type": "doit être un objet",
    "bool_type": "doit être un booléen",
    "datetime_type": "doit être une date RFC 3339",
    "datetime_parsing": "doit être une date RFC 3339 (ex. 2026-01-14T22:40:00+01:00)",
    "datetime_from_date_parsing": "doit être une date RFC 3339 (ex. 2026-01-14T22:40:00+01:00)",
    "timezone_aware": "doit porter un décalage horaire (ex. +01:00)",
    "json_invalid": "JSON invalide",
    "string_unicode": "doit être un texte Unicode valide",
    "int_parsing_size": "nombre trop grand",
    "bool_parsing": "doit être un booléen",
    "date_type": "doit être une date (AAAA-MM-JJ)",
    "date_parsing": "doit être une date (AAAA-MM-JJ)",
    "date_from_datetime_parsing": "doit être une date (AAAA-MM-JJ)",
    "uuid_type": "doit être un identifiant UUID",
    "uuid_parsing": "doit être un identifiant UUID",
    "url_parsing": "doit être une URL",
    "url_scheme": "schéma d'URL non permis",
    "none_required": "doit être null",
}


# The same for rules whose wording names their bound, taken from pydantic's `ctx`.
_BOUNDED_MESSAGES: dict[str, str] = {
    "literal_error": "valeur non permise ; valeurs permises : {expected}",
    "enum": "valeur non permise ; valeurs permises : {expected}",
    "greater_than_equal": "doit être ≥ {ge}",
    "greater_than": "doit être ≥ {gt}",
    "less_than_equal": "doit être ≤ {le}",
    "less_than": "doit être ≤ {lt}",
    "string_too_long": "au plus {max_length} caractères",
    "string_too_short": "au moins {min_length} caractère(s)",
    "too_long": "au plus {max_length} éléments",
    "too_short": "au moins {min_length} élément(s)",
    "string_pattern_mismatch": "format attendu : {pattern}",
}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind in INSTANT_RULES:  # our own rules carry their French message
        return str(error.get("msg", ""))
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind in _BOUNDED_MESSAGES:
        return _BOUNDED_MESSAGES[kind].format_map(defaultdict(str, error.get("ctx") or {}))
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ")
    # A rule without French wording here: people read that the value is refused, programs read the rule.
    return f"valeur invalide (règle {kind})"


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    result = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header"):
            origin, location = location[0], location[1:]
            if origin != "body" and location:
                location = [location[0]]
        result.append(FieldError(field=".".join(location) or "(corps)", rule=error["type"], message=_message(error)))
    return result


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + _SLUGS.get(status, str(status)),
        "title": title or _STATUS_TITLES.get(status, "Erreur"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "rule": e.rule, "detail": e.message} for e in errors]
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def validation_problem(errors: list[FieldError]) -> JSONResponse:
    if any(e.rule == "json_invalid" for e in errors):
        return problem(400, "le corps de la requête n'est pas un JSON valide", errors=errors)
    return problem(422, "; ".join(f"{e.field} : {e.message}" for e in errors), errors=errors)


def is_page(path: str, accept: str) -> bool:
    """A browser asking for a page (not the API): it gets a French page rather than a problem document."""
    return not path.startswith("/v1/") and "text/html" in accept


# The framework's own English details, in French.
_FRENCH_DETAILS = {
    "There was an error parsing the body": "le corps de la requête n'a pas pu être lu (JSON invalide)",
    "Not Found": "aucune ressource à cette adresse",
    "Method Not Allowed": "méthode non permise à cette adresse",
}


def _french(status: int, detail: Any) -> str:
    if not isinstance(detail, str):
        return _STATUS_TITLES.get(status, "Erreur")
    if detail in _FRENCH_DETAILS:
        return _FRENCH_DETAILS[detail]
    with suppress(ValueError):
        if detail == HTTPStatus(status).phrase:
            return _STATUS_TITLES.get(status, "Erreur")
    return detail


_DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
)


def _is_page(request: Request) -> bool:
    return is_page(request.url.path, request.headers.get("accept", ""))


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(field_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and _is_page(request):
            # People reach pages with a browser: send them to the sign-in page, then back.
            return RedirectResponse(f"/connexion?{urlencode({'next': request.url.path})}", status_code=303)
        if exc.status_code in (404, 405) and _is_page(request):
            return refusal(request, exc.status_code, getattr(request.state, "principal", None))
        response = problem(exc.status_code, _french(exc.status_code, exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("base de données injoignable : %s", exc.orig)
        response = problem(503, "base de données momentanément indisponible, réessayez dans quelques secondes")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Still a problem document; the error itself is logged by the server (and never shown to the client).
        return problem(500, "erreur interne ; elle est consignée dans les journaux du service")

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, InvalidInput):
            return validation_problem(exc.errors)
        status = next((code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind)), 400)
        return problem(status, exc.detail, title=exc.title)
