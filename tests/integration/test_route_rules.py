"""Every route has an authorization rule: it depends on the caller (`current_principal` or
`optional_principal`, directly or through `require_roles` and the like), or it is one of the few public routes
listed here. A new route without a rule fails this test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from services.api.app import create_app
from services.api.deps import current_principal, optional_principal
from services.api.web.auth import page_principal

# (method, path) → why it is public. Keep it short: everything else needs a caller.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "supervision, sans jeton (contrat)",
    ("GET", "/connexion"): "formulaire de connexion",
    ("POST", "/connexion"): "connexion (jeton CSRF du formulaire)",
    ("POST", "/deconnexion"): "déconnexion (jeton CSRF de la session)",
    ("GET", "/docs"): "documentation",
    ("GET", "/docs/swagger-init.js"): "documentation",
    ("GET", "/docs/assets/{name}"): "documentation (Swagger UI, ReDoc)",
    ("GET", "/redoc"): "documentation",
    ("GET", "/openapi.json"): "documentation",
    ("GET", "/sw.js"): "service worker de l'application de signalement (fichier, sans donnée)",
    ("GET", "/manifest.webmanifest"): "manifeste de l'application de signalement (fichier, sans donnée)",
}
# Mounted applications (no methods of their own) that are public: files of the pages, nobody's data.
PUBLIC_MOUNTS: dict[str, str] = {"/static": "CSS, scripts et images des pages"}
# `page_principal`: the pages' caller (the same credentials, refusals as French pages).
CALLER_DEPENDENCIES: tuple[Callable[..., Any], ...] = (current_principal, optional_principal, page_principal)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


class Rule:
    """One route of the application as it is served (included routers flattened, prefixes applied)."""

    def __init__(self, path: str | None, methods: set[str] | None, dependant: Dependant | None) -> None:
        self.path = path or ""
        self.keys = {(method, self.path) for method in methods or () if method != "HEAD"}
        self.guarded = dependant is not None and any(call in CALLER_DEPENDENCIES for call in _calls(dependant))


def _routes(app: FastAPI | None = None) -> list[Rule]:
    # FastAPI ≥ 0.16x includes routers lazily: `app.routes` holds included routers, walked here route by route.
    contexts = iter_route_contexts((app or create_app()).routes)
    return [Rule(c.path, c.methods, getattr(c, "dependant", None)) for c in contexts]


def test_every_route_needs_a_caller_or_is_listed_public() -> None:
    unruled = []
    for route in _routes():
        if not route.keys:
            assert route.path in PUBLIC_MOUNTS, route.path
            continue
        if route.keys <= PUBLIC.keys():
            continue
        if not route.guarded:
            unruled.extend(sorted(route.keys - PUBLIC.keys()))
    assert not unruled, f"routes sans règle d'accès (current_principal ou liste publique) : {unruled}"


def test_public_routes_exist() -> None:
    existing = set().union(*(route.keys for route in _routes()))
    assert not PUBLIC.keys() - existing, f"routes publiques déclarées mais absentes : {PUBLIC.keys() - existing}"


def test_public_routes_do_not_ask_for_a_caller() -> None:
    """A listed route that does check the caller should leave the list (it would hide a future regression)."""
    for route in _routes():
        if route.keys <= PUBLIC.keys():
            assert not route.guarded, route.path


def test_the_rule_sees_a_route_without_a_caller() -> None:
    """The walk itself: a route added without a dependency on the caller is caught."""
    app = create_app()

    @app.get("/v1/oubliee")
    def forgotten() -> dict[str, str]:
        return {}

    rules = {route.path: route for route in _routes(app)}
    assert not rules["/v1/oubliee"].guarded
    assert rules["/v1/audit"].guarded and rules["/v1/situations/{situation_id}/merge"].guarded
