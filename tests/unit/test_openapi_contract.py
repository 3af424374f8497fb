"""The OpenAPI document is the contract: walked here so that every operation, parameter and field, today's and
tomorrow's, keeps a French summary and description, a typed 2xx answer, its problem responses and the bearer
scheme."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from services.api.app import create_app
from services.api.problems import PROBLEM_JSON

APP = create_app()
DOC: dict[str, Any] = APP.openapi()
SCHEMAS: dict[str, Any] = DOC["components"]["schemas"]
PROBLEM_REF = "#/components/schemas/ProblemDetails"
METHODS = ("get", "put", "post", "delete", "patch")
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in DOC["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]
# What FastAPI writes when a route says nothing (English, from the function's name or its own defaults).
FASTAPI_DEFAULTS = {"Successful Response", "Validation Error", "Unprocessable Content"}


def _default_summary(path: str, method: str) -> str:
    for route in iter_route_contexts(APP.routes):
        if isinstance(route.original_route, APIRoute) and route.path_format == path and method in (route.methods or ()):
            return str(route.name).replace("_", " ").title()
    raise AssertionError(f"pas de route pour {method} {path}")


def _french(text: str | None) -> bool:
    return bool(text and text.strip()) and text not in FASTAPI_DEFAULTS


def test_the_document_has_operations_and_no_fastapi_validation_error() -> None:
    assert len(OPERATIONS) >= 27
    text = json.dumps(DOC)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text
    assert DOC["components"]["securitySchemes"]["jeton"] == {
        "type": "http",
        "scheme": "bearer",
        "description": DOC["components"]["securitySchemes"]["jeton"]["description"],
    }


def test_pages_are_not_in_the_document() -> None:
    for path in DOC["paths"]:
        assert path == "/health" or path.startswith("/v1/"), path


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_operation_is_described_in_french(method: str, path: str, operation: dict[str, Any]) -> None:
    assert _french(operation.get("summary")), "résumé manquant"
    assert operation["summary"] != _default_summary(path, method), "résumé par défaut (nom de la fonction)"
    assert _french(operation.get("description")), "description manquante"
    assert len(operation["tags"]) == 1
    assert operation["tags"][0] in {tag["name"] for tag in DOC["tags"]}
    for parameter in operation.get("parameters", ()):
        assert _french(parameter.get("description")), f"paramètre sans description : {parameter['name']}"
        assert "title" not in parameter["schema"], f"titre anglais du paramètre {parameter['name']}"
    for status, response in operation["responses"].items():
        assert _french(response.get("description")), f"réponse {status} sans description française"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_success_answers_are_typed(method: str, path: str, operation: dict[str, Any]) -> None:
    successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
    assert successes, "aucune réponse 2xx"
    for status, response in successes.items():
        if status == "204":
            assert "content" not in response
            continue
        schema = response["content"]["application/json"]["schema"]
        assert "$ref" in schema, f"{status} : réponse sans modèle ({schema})"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_errors_are_problem_documents(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    expected = {"422"}
    if path.startswith("/v1/"):
        expected |= {"401", "403", "429", "503"}
        assert operation.get("security") == [{"jeton": []}], "opération sans le schéma bearer"
    if method in ("POST", "PUT", "PATCH"):
        expected.add("413")
    if "requestBody" in operation:
        expected |= {"400", "415"}
    missing = expected - set(responses)
    assert not missing, f"problèmes non documentés : {sorted(missing)}"
    for status, response in responses.items():
        if status.startswith("2") or (path == "/health" and status == "503"):
            continue
        assert set(response["content"]) == {PROBLEM_JSON}, f"{status} : pas en {PROBLEM_JSON}"
        assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}, status


def test_problem_schema_is_what_the_api_writes() -> None:
    problem = SCHEMAS["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    item = SCHEMAS["FieldProblem"]
    assert set(item["required"]) == set(item["properties"]) == {"field", "rule", "detail"}


def _properties(name: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field, definition in schema.get("properties", {}).items():
        yield f"{name}.{field}", definition


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_field_is_described(name: str) -> None:
    fields = list(_properties(name, SCHEMAS[name]))
    undescribed = [where for where, definition in fields if not definition.get("description")]
    assert not undescribed, f"champs sans description : {undescribed}"
    # Titles FastAPI makes from field names are English ("Next Deadline"): the document carries none.
    assert not [where for where, definition in fields if "title" in definition]
