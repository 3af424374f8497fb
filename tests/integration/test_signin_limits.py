"""Sign-in attempts: only failures count, a success clears the person's, one name hammered does not lock out the
others behind the same address, and the address is read from `X-Forwarded-For` only behind a trusted proxy."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from services.api.app import create_app
from services.api.deps import FAILED_AUTH_PER_MINUTE, FAILED_SIGNINS_PER_ADDRESS, FAILED_SIGNINS_PER_USERNAME, limiters
from services.core.access.tokens import create_token
from services.core.access.users import create_user
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.settings import get_settings
from services.core.territory import default_map

PASSWORD = "une phrase de passe assez longue"
PEOPLE = ("alice", "bruno", "chloe")


# Small limits in the tests (each sign-in verifies an argon2 hash): the same ratio as the real ones' spirit.
PER_USERNAME = 3
PER_ADDRESS = 8
PER_ADDRESS_FOR_TOKENS = 5


@pytest.fixture(autouse=True)
def small_limits() -> Iterator[None]:
    limits = limiters()
    saved = [limiter.per_minute for limiter in limits]
    limits.signin_username.per_minute = PER_USERNAME
    limits.signin_address.per_minute = PER_ADDRESS
    limits.failed_auth.per_minute = PER_ADDRESS_FOR_TOKENS
    for limiter in limits:
        limiter.reset()
    yield
    for limiter, per_minute in zip(limits, saved, strict=True):
        limiter.per_minute = per_minute
        limiter.reset()


def test_the_real_ceilings_leave_room_for_the_others() -> None:
    assert FAILED_SIGNINS_PER_ADDRESS >= 5 * FAILED_SIGNINS_PER_USERNAME
    assert FAILED_AUTH_PER_MINUTE >= FAILED_SIGNINS_PER_USERNAME


@pytest.fixture
def people() -> None:
    with session_scope() as session:
        for name in PEOPLE:
            create_user(
                session,
                username=name,
                password=PASSWORD,
                role="analyst",
                leads=[],
                territory_map=default_map(),
                now=utc_now(),
            )
        session.commit()


@pytest.fixture
def trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("URGENCE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("URGENCE_TRUSTED_PROXIES")
    get_settings.cache_clear()


def sign_in(browser: TestClient, username: str, password: str, headers: dict[str, str] | None = None) -> Response:
    form = browser.get("/connexion")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    fields = {"csrf_token": csrf.group(1), "username": username, "password": password, "next": "/"}
    return browser.post("/connexion", data=fields, headers=headers or {}, follow_redirects=False)


def test_successes_do_not_count_and_clear_the_persons_failures(people: None) -> None:
    with TestClient(create_app()) as browser:
        # More successful sign-ins than the limit allows failures: none is refused.
        for _ in range(PER_USERNAME + 1):
            assert sign_in(browser, "alice", PASSWORD).status_code == 303
        # One failure short of the limit, then a success: the count starts again from zero.
        for _ in range(PER_USERNAME - 1):
            assert sign_in(browser, "alice", "faux").status_code == 401
        assert sign_in(browser, "alice", PASSWORD).status_code == 303
        for _ in range(PER_USERNAME - 1):
            assert sign_in(browser, "alice", "faux").status_code == 401
        assert sign_in(browser, "alice", PASSWORD).status_code == 303


def test_a_burst_on_one_name_locks_that_name_only(people: None) -> None:
    with TestClient(create_app()) as browser:
        codes = [sign_in(browser, "alice", "faux").status_code for _ in range(PER_USERNAME + 3)]
        assert codes[:PER_USERNAME] == [401] * PER_USERNAME
        assert codes[PER_USERNAME:] == [429] * 3
        # Locked, even with the right password (else guessing would go on), with a French page and Retry-After.
        locked = sign_in(browser, "alice", PASSWORD)
        assert locked.status_code == 429 and "Trop de tentatives" in locked.text
        assert int(locked.headers["retry-after"]) >= 1
        # The others behind the same address sign in.
        assert sign_in(browser, "bruno", PASSWORD).status_code == 303
        assert sign_in(browser, "chloe", "faux").status_code == 401
        assert sign_in(browser, "chloe", PASSWORD).status_code == 303


def test_an_address_has_a_much_higher_ceiling(people: None) -> None:
    with TestClient(create_app()) as browser:
        # Guessing across many names from one address: each name stays under its limit, the address reaches its.
        names = [f"inconnu{n}" for n in range(PER_ADDRESS)]
        for name in names:
            assert sign_in(browser, name, "faux").status_code == 401
        assert sign_in(browser, "bruno", PASSWORD).status_code == 429


def test_forwarded_for_is_ignored_without_trusted_proxies(people: None) -> None:
    assert get_settings().trusted_proxies == []
    with TestClient(create_app()) as browser:
        for n in range(PER_ADDRESS):
            # A forged header changes nothing: every attempt counts against the peer's address.
            assert sign_in(browser, f"x{n}", "faux", {"X-Forwarded-For": f"198.51.100.{n % 250}"}).status_code == 401
        assert sign_in(browser, "alice", PASSWORD, {"X-Forwarded-For": "203.0.113.9"}).status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_apart(people: None, trusted_proxies: None) -> None:
    with TestClient(create_app(), client=("10.1.2.3", 50000)) as browser:
        attacker = {"X-Forwarded-For": "203.0.113.66"}
        for n in range(PER_ADDRESS):
            assert sign_in(browser, f"x{n}", "faux", attacker).status_code == 401
        assert sign_in(browser, "alice", PASSWORD, attacker).status_code == 429
        # Another person, another address behind the same proxy.
        assert sign_in(browser, "bruno", PASSWORD, {"X-Forwarded-For": "198.51.100.7"}).status_code == 303
        # The attacker cannot escape by writing another address to the left: the proxy appended the real one.
        assert sign_in(browser, "chloe", PASSWORD, {"X-Forwarded-For": "198.51.100.8, 203.0.113.66"}).status_code == 429


def test_refused_tokens_are_counted_against_the_forwarded_address(trusted_proxies: None) -> None:
    with session_scope() as session:
        secret = create_token(session, role="outreach", leads=[], territory_map=default_map())
        session.commit()
    with TestClient(create_app(), client=("192.0.2.1", 40000)) as api:
        # The proxy (192.0.2.1) forwards for 203.0.113.5, behind another trusted hop (10.9.9.9).
        forged = {"Authorization": "Bearer urg_faux", "X-Forwarded-For": "198.51.100.1, 203.0.113.5, 10.9.9.9"}
        codes = {api.get("/v1/weather-plan", headers=forged).status_code for _ in range(PER_ADDRESS_FOR_TOKENS + 1)}
        assert codes == {401, 429}
        assert limiters().failed_auth.wait("fail:203.0.113.5") is not None
        assert limiters().failed_auth.wait("fail:192.0.2.1") is None
        assert limiters().failed_auth.wait("fail:198.51.100.1") is None
        # Someone else behind the same proxy is not slowed down.
        other = {"Authorization": f"Bearer {secret}", "X-Forwarded-For": "198.51.100.2"}
        assert api.get("/v1/weather-plan", headers=other).status_code == 200
