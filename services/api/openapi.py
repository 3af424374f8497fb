"""The OpenAPI document as the public contract: French throughout, the bearer scheme on every authenticated
operation, and every error as the problem document `services.api.problems` really writes.

Routes declare what is theirs (summary, description, answer model, the problems only they raise: 404, 409…);
what follows from how a route is built is added here, for every route alike, so a new one cannot forget it:
authentication (401, 403, 429, and 503 when the database behind the tokens is out of reach), a body (400,
413, 415), and 422, which any request can earn (a NUL character is refused in every path and query)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from services.api.deps import optional_principal
from services.api.problems import PROBLEM_JSON
from services.api.schemas.problems import ProblemDetails

SECURITY_SCHEME = "jeton"
PROBLEM_SCHEMA = "ProblemDetails"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

DESCRIPTION = """\
API de coordination des signalements d'urgence sociale à Paris : les maraudes et partenaires signalent, le
routage désigne le pilote, les partenaires et les échéances d'après les fiches réflexes, les coordinateurs
traitent les situations de leurs files, la Mission Urgence Sociale (MUS) voit tout.

**Authentification** : chaque opération `/v1` demande `Authorization: Bearer <jeton>` (bouton « Authorize »
ci-dessus). Un jeton se crée avec `uv run urgence token create --role ROLE [--lead PILOTE]` ou par
`POST /v1/tokens`. Sans jeton valide : 401 ; rôle ou périmètre insuffisant : 403.

**Erreurs** : toujours un document `application/problem+json` (RFC 9457) en français ; pour des données
invalides, `errors` nomme chaque champ en cause et sa règle.

**Dates** : RFC 3339 avec décalage horaire ; le service répond en UTC. **Listes** : paginées par `?limit=` et
`?cursor=` ; la réponse donne `next_cursor` (null à la dernière page).
"""

TAGS: list[dict[str, str]] = [
    {"name": "santé", "description": "État du service et de ce dont il dépend (sans jeton)."},
    {"name": "signalements", "description": "Recevoir un signalement et le relire."},
    {"name": "situations", "description": "Files des pilotes, recherche, lecture et actions sur une situation."},
    {"name": "plan météo", "description": "Plan grand froid ou canicule en vigueur."},
    {"name": "statistiques", "description": "Chiffres semestriels, en JSON ou en CSV."},
    {"name": "annuaire", "description": "Structures alertées et lettres mortes (administrateurs)."},
    {"name": "accès", "description": "Jetons, personnes et journal d'audit (administrateurs)."},
    {"name": "fiches réflexes", "description": "Versions publiées des fiches, brouillons, impact, publication."},
]

PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "Corps de requête illisible (JSON invalide)",
    401: "Jeton absent, inconnu, révoqué ou expiré",
    403: "Le rôle ou le périmètre de l'appelant ne permet pas cette opération",
    404: "Ressource introuvable",
    409: "Conflit avec l'état actuel de la ressource",
    413: "Corps de requête trop volumineux (64 Kio au plus par défaut)",
    415: "Corps dans un autre format ou un autre jeu de caractères que le JSON en UTF-8",
    422: "Données invalides : `errors` nomme chaque champ en cause et sa règle",
    429: "Trop de requêtes : réessayer après le délai de `Retry-After`",
    503: "Base de données momentanément injoignable : réessayer après le délai de `Retry-After`",
}
_RETRY_AFTER = {"description": "Secondes à attendre avant de réessayer", "schema": {"type": "integer"}}
PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}

# Query, path and header parameters the routes leave undescribed, by name: one meaning each across the API.
PARAMETER_DESCRIPTIONS: dict[str, str] = {
    "signal_id": "Identifiant du signalement",
    "situation_id": "Identifiant de la situation",
    "lead": "Pilote (`eps:<secteur>`, `cavs:<zone>` ou `mus`)",
    "sector": "Secteur (`paris-centre`, `paris-5` … `paris-20`)",
    "status": "Statut de la situation",
    "primary_fiche": "Fiche réflexe principale (ex. FR01)",
    "limit": "Nombre d'éléments par page",
    "cursor": "Le `next_cursor` de la page précédente",
    "code": "Code de la structure (ex. `eps:paris-13`)",
    "token_id": "Identifiant du jeton",
    "principal_id": "Identifiant du jeton ou de la personne",
    "semester": "Le semestre, AAAA-S1 (1er janvier – 30 juin) ou AAAA-S2 (1er juillet – 31 décembre)",
    "variant": "`internal` (chiffres exacts, MUS et administrateurs) ou `published` (petits effectifs masqués)",
    "format": "`json` (par défaut) ou `csv`",
}
_DEFAULT_DESCRIPTIONS = {"Successful Response": "Succès"}


def problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": PROBLEM_DESCRIPTIONS[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}}},
    }
    if status in PROBLEM_HEADERS:
        response["headers"] = PROBLEM_HEADERS[status]
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problems it raises itself (the common ones are added for every route)."""
    return {status: problem_response(status) for status in statuses}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def common_problems(route: RouteContext, method: str) -> tuple[set[int], bool]:
    """The problems any route built like this one can answer, and whether it authenticates its caller."""
    authenticated = optional_principal in set(_calls(route.dependant))
    statuses = {422}
    if authenticated:
        statuses |= {401, 403, 429, 503}
    if method in BODY_METHODS:
        statuses.add(413)  # every body is read (and measured) before the route runs
    if route.body_field is not None:
        statuses |= {400, 415}
    return statuses, authenticated


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's own validation error is never sent: every 422 is a problem document.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas[PROBLEM_SCHEMA] = problem_schema
    doc["components"]["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "Jeton d'accès créé par `uv run urgence token create` ou `POST /v1/tokens`",
        }
    }
    # Included routers' routes are reached through their contexts (with the router's dependencies and prefix).
    for schema in schemas.values():
        for field in schema.get("properties", {}).values():
            field.pop("title", None)  # English words made from the field's name; its description says it in French
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = doc["paths"][route.path_format][method.lower()]
            _complete(operation, *common_problems(route, method))
    return doc


def _complete(operation: dict[str, Any], statuses: set[int], authenticated: bool) -> None:
    responses: dict[str, Any] = operation["responses"]
    responses["422"] = problem_response(422)
    for status in statuses:
        responses.setdefault(str(status), problem_response(status))
    for response in responses.values():
        response["description"] = _DEFAULT_DESCRIPTIONS.get(response["description"], response["description"])
    operation["responses"] = dict(sorted(responses.items()))
    if authenticated:
        operation["security"] = [{SECURITY_SCHEME: []}]
    for parameter in operation.get("parameters", ()):
        parameter.get("schema", {}).pop("title", None)
        if not parameter.get("description") and parameter["name"] in PARAMETER_DESCRIPTIONS:
            parameter["description"] = PARAMETER_DESCRIPTIONS[parameter["name"]]


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
