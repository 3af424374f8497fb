"""A bounded property-based run over the OpenAPI schema (schemathesis, in process): whatever the inputs, no
answer is a server error, and answers match the schema where it declares them.

Callers: an admin token (every route is reachable; scope rules are the matrix's job), an outreach token for
`POST /v1/signals`. The dashboards are left out (HTML/PDF pages, slow to render, covered by test_dashboard)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from services.api.app import create_app
from tests.integration.conftest import TokenFactory

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app()).exclude(path_regex="^/dashboards")


@pytest.fixture
def callers(token: TokenFactory) -> dict[str, dict[str, str]]:
    """Made once per operation (the database is emptied between tests, not between examples)."""
    return {"admin": token("admin"), "outreach": token("outreach")}


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_never_fails_and_matches_its_schema(
    case: schemathesis.Case, callers: dict[str, dict[str, str]], request: pytest.FixtureRequest
) -> None:
    if case.path == "/health":
        request.getfixturevalue("everything_beats")  # else a true 503: nothing beats
    role = "outreach" if (case.method, case.path) == ("POST", "/v1/signals") else "admin"
    case.call_and_validate(headers=callers[role], checks=[not_a_server_error, response_schema_conformance])
