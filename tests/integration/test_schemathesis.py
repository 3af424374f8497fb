"""A bounded property-based run over the OpenAPI schema (schemathesis, in process): whatever the inputs, no
answer is a server error, and answers match the schema where it declares them.

Two runs: valid inputs (answers conform to the schema), and invalid ones (schemathesis breaks each constraint of
the schema: wrong types, out-of-range numbers and instants, NUL characters, missing fields…), which must be
refused with a 4xx and never answered with a 5xx.

Callers: an admin token (every route is reachable; scope rules are the matrix's job), an outreach token for
`POST /v1/signals`. The dashboards are left out (HTML/PDF pages, slow to render, covered by test_dashboard)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig

from services.api.app import create_app
from tests.integration.conftest import TokenFactory

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app()).exclude(path_regex="^/dashboards")
# Invalid inputs only, NUL characters included.
NEGATIVE = SchemathesisConfig.from_str('[generation]\nmode = "negative"\nallow-x00 = true\n')


def _nothing_to_break(ctx: Any) -> bool:
    """An operation whose only inputs are free-text path segments (or none) has no invalid input: schemathesis
    would skip it."""
    definition = ctx.operation.definition.raw
    constrained = [
        parameter
        for parameter in definition.get("parameters", [])
        if parameter.get("in") != "path" or set(parameter.get("schema", {})) - {"type", "title"}
    ]
    return not constrained and "requestBody" not in definition


negative_schema = (
    schemathesis.openapi.from_asgi("/openapi.json", create_app(), config=NEGATIVE)
    .exclude(path_regex="^/dashboards")
    .exclude(_nothing_to_break)
)


@pytest.fixture
def callers(token: TokenFactory) -> dict[str, dict[str, str]]:
    """Made once per operation (the database is emptied between tests, not between examples)."""
    return {"admin": token("admin"), "outreach": token("outreach")}


def _headers(case: schemathesis.Case[Any], callers: dict[str, dict[str, str]]) -> dict[str, str]:
    role = "outreach" if (case.method, case.path) == ("POST", "/v1/signals") else "admin"
    return callers[role]


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_never_fails_and_matches_its_schema(
    case: schemathesis.Case[Any], callers: dict[str, dict[str, str]], request: pytest.FixtureRequest
) -> None:
    if case.path == "/health":
        request.getfixturevalue("everything_beats")  # else a true 503: nothing beats
    case.call_and_validate(headers=_headers(case, callers), checks=[not_a_server_error, response_schema_conformance])


@negative_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_invalid_inputs_are_refused_never_a_server_error(
    case: schemathesis.Case[Any], callers: dict[str, dict[str, str]]
) -> None:
    # A case without the Authorization header is testing its absence (the header is required): it goes as it is
    # (401). Any other gets a real token in place of the generated one, so that the rest of it is what is judged.
    headers = _headers(case, callers) if "Authorization" in (case.headers or {}) else {}
    case.call_and_validate(headers=headers, checks=[not_a_server_error, negative_data_rejection])
