"""Tokens and people: expiry, revocation, sign-in with a session cookie and CSRF, rate limits, headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from services.api.app import create_app
from services.api.deps import limiters
from services.cli import app as cli
from services.core.access.tokens import create_token
from services.core.access.users import create_user
from services.core.clock import utc_now
from services.core.db import get_engine, session_scope
from services.core.settings import Settings, get_settings
from services.core.territory import default_map
from tests.integration.conftest import TokenFactory, family_13

PASSWORD = "une phrase de passe assez longue"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_expired_token_is_refused(client: TestClient) -> None:
    with session_scope() as session:
        secret = create_token(
            session,
            role="outreach",
            leads=[],
            territory_map=default_map(),
            expires_at=utc_now() - timedelta(seconds=1),
        )
        session.commit()
    assert client.post("/v1/signals", json=family_13(), headers=bearer(secret)).status_code == 401


def test_new_tokens_expire_by_default(client: TestClient, token: TokenFactory) -> None:
    admin = token("admin")
    listed = client.get("/v1/tokens", headers=admin).json()["items"]
    assert listed and all(item["expires_at"] is not None for item in listed)
    assert all("secret" not in item and "secret_hash" not in item for item in listed)


def test_revoked_token_is_refused(client: TestClient, token: TokenFactory) -> None:
    admin = token("admin")
    created = client.post("/v1/tokens", json={"role": "outreach", "name": "maraude"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert client.post("/v1/signals", json=family_13(), headers=bearer(secret)).status_code == 202
    token_id = next(t["id"] for t in client.get("/v1/tokens", headers=admin).json()["items"] if t["name"] == "maraude")
    assert client.delete(f"/v1/tokens/{token_id}", headers=admin).json()["revoked_at"] is not None
    assert client.post("/v1/signals", json=family_13(), headers=bearer(secret)).status_code == 401


def test_only_admins_manage_tokens_and_people(client: TestClient, token: TokenFactory) -> None:
    for role, leads in (("outreach", []), ("analyst", []), ("coordinator", ["mus"])):
        headers = token(role, leads=leads)
        assert client.get("/v1/tokens", headers=headers).status_code == 403
        assert client.post("/v1/users", json={}, headers=headers).status_code in (403, 422)
        assert client.get("/v1/audit", headers=headers).status_code == 403


def test_token_grant_rules(client: TestClient, token: TokenFactory) -> None:
    admin = token("admin")
    assert client.post("/v1/tokens", json={"role": "coordinator"}, headers=admin).status_code == 422
    assert client.post("/v1/tokens", json={"role": "root"}, headers=admin).status_code == 422
    bad_lead = {"role": "coordinator", "leads": ["eps:paris-99"]}
    assert client.post("/v1/tokens", json=bad_lead, headers=admin).status_code == 422


def test_cli_token_create_list_revoke() -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["token", "create", "--role", "coordinator", "--lead", "eps:paris-13", "--days", "7"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("urg_")
    token_id = re.search(r"jeton ([0-9a-f-]{36})", created.output)
    assert token_id is not None
    listed = runner.invoke(cli, ["token", "list"])
    assert token_id.group(1) in listed.output and secret not in listed.output
    assert runner.invoke(cli, ["token", "revoke", token_id.group(1)]).exit_code == 0
    assert "révoqué" in runner.invoke(cli, ["token", "list"]).output
    refused = runner.invoke(cli, ["token", "create", "--role", "coordinator"])
    assert refused.exit_code == 2


class TestSignIn:
    @pytest.fixture
    def person(self) -> str:
        with session_scope() as session:
            create_user(
                session,
                username="coord13",
                password=PASSWORD,
                role="coordinator",
                leads=["eps:paris-13"],
                territory_map=default_map(),
                now=utc_now(),
            )
            session.commit()
        return "coord13"

    def sign_in(
        self, browser: TestClient, username: str, password: str, next_path: str = "/v1/queues/eps:paris-13"
    ) -> Response:
        form = browser.get("/connexion")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        fields = {"csrf_token": csrf.group(1), "username": username, "password": password, "next": next_path}
        return browser.post("/connexion", data=fields, follow_redirects=False)

    def test_sign_in_opens_a_session_that_reads_like_a_token(self, person: str) -> None:
        with TestClient(create_app()) as browser:
            assert browser.get("/v1/queues/eps:paris-13").status_code == 401
            assert self.sign_in(browser, person, PASSWORD).status_code == 303
            cookie = next(c for c in browser.cookies.jar if c.name == "urgence_session")
            assert cookie.has_nonstandard_attr("HttpOnly")
            assert browser.get("/v1/queues/eps:paris-13").status_code == 200
            assert browser.get("/v1/queues/eps:paris-14").status_code == 403

    def test_wrong_password_and_missing_csrf_are_refused(self, person: str) -> None:
        with TestClient(create_app()) as browser:
            assert self.sign_in(browser, person, "pas le bon mot de passe").status_code == 401
            assert self.sign_in(browser, "inconnu", PASSWORD).status_code == 401
            forged = browser.post("/connexion", data={"username": person, "password": PASSWORD})
            assert forged.status_code == 403
            assert browser.get("/v1/queues/eps:paris-13").status_code == 401

    def test_cookie_writes_need_the_csrf_token_and_sign_out_ends_the_session(self, person: str) -> None:
        with TestClient(create_app()) as browser:
            assert self.sign_in(browser, person, PASSWORD).status_code == 303
            # A write with only the cookie (what another site could make the browser send) is refused.
            assert browser.post("/v1/signals", json=family_13()).status_code == 403
            assert browser.post("/deconnexion", data={"csrf_token": "faux"}).status_code == 403
            with session_scope() as session:
                csrf = session.execute(text("SELECT csrf_token FROM web_sessions WHERE ended_at IS NULL")).scalar_one()
            assert browser.post("/v1/signals", json=family_13(), headers={"X-CSRF-Token": csrf}).status_code == 202
            assert browser.post("/deconnexion", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
            assert browser.get("/v1/queues/eps:paris-13").status_code == 401

    def test_pages_send_people_to_the_sign_in_page(self) -> None:
        with TestClient(create_app()) as browser:
            answer = browser.get("/dashboards/2026-S1", headers={"Accept": "text/html"}, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/connexion?next=")

    def test_open_redirects_are_not_followed(self, person: str) -> None:
        with TestClient(create_app()) as browser:
            answer = self.sign_in(browser, person, PASSWORD, next_path="//ailleurs.example/piege")
            assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_rate_limit_answers_429_with_retry_after(client: TestClient, token: TokenFactory) -> None:
    headers = token("outreach")
    limiter = limiters().callers
    saved = limiter.per_minute
    limiter.per_minute = 3
    try:
        codes = [client.get("/v1/weather-plan", headers=headers).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        answer = client.get("/v1/weather-plan", headers=headers)
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["status"] == 429
    finally:
        limiter.per_minute = saved


def test_guessing_tokens_is_slowed_down(client: TestClient) -> None:
    codes = {client.get("/v1/weather-plan", headers=bearer(f"urg_{n}")).status_code for n in range(40)}
    assert 429 in codes
    limiters().failed_auth.reset()


def test_security_headers_and_no_cors_by_default(client: TestClient, token: TokenFactory) -> None:
    answer = client.get("/v1/weather-plan", headers={**token("analyst"), "Origin": "https://ailleurs.example"})
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/v1/signals", headers={"Origin": "https://ailleurs.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(RuntimeError, match="URGENCE_SECRET_KEY"):
        Settings(environment="production").check_production()
    Settings(environment="production", secret_key="une-clé-de-production-secrète").check_production()
    assert get_settings().environment == "development"


def test_audit_log_is_append_only() -> None:
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (at, actor, principal_id, role, action, detail) "
                "VALUES (now(), 'admin:x', 'x', 'admin', 'test', '{}')"
            )
        )
    for statement in ("UPDATE audit_log SET actor = 'autre'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="ajout seul"), get_engine().begin() as connection:
            connection.execute(text(statement))
