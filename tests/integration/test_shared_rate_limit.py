"""One rate limit for every API replica: two real `urgence api` processes on one Redis accept, together, no more
than the limit from one token; with Redis gone, intake keeps accepting (fails open), logs it and counts it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
import redis

from services.api.deps import FAILED_SIGNINS_PER_USERNAME
from services.api.ratelimit import SharedRateLimiter
from services.core.access.users import create_user
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.territory import default_map
from tests.integration.conftest import TokenFactory
from tests.support.stack import Stack, running_stack
from tests.support.waiting import wait_for

T = TypeVar("T")

LIMIT = 12


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    """Started once for the module (two API processes take a while to start on a busy machine); each test uses
    tokens of its own, so their counts never mix."""
    with running_stack(tmp_path_factory.mktemp("replicas"), database_url) as stack:
        stack.env["URGENCE_RATE_LIMIT_PER_MINUTE"] = str(LIMIT)
        stack.start_redis()
        stack.start_api()
        stack.start_api(name="api2")
        yield stack


def signal(index: int) -> dict[str, object]:
    return {"location": {"lat": 48.83, "lon": 2.35 + 0.001 * index}, "source": "maraude", "people": {"adults": 1}}


def post(url: str, headers: dict[str, str], index: int) -> httpx.Response:
    return httpx.post(f"{url}/v1/signals", json=signal(index), headers=headers, timeout=10)


def test_two_replicas_enforce_one_limit(replicas: Stack, token: TokenFactory) -> None:
    headers = token("outreach")
    urls = [replicas.url("api"), replicas.url("api2")]
    # Three times the limit, spread over both replicas, eight at a time.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: post(urls[n % 2], headers, n), range(3 * LIMIT)))
    accepted = [answer for answer in answers if answer.status_code == 202]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(accepted) == LIMIT, [answer.status_code for answer in answers]
    assert len(refused) == 2 * LIMIT
    # Each replica refused some: neither counted alone (each alone would have accepted up to the limit).
    assert {str(answer.url).rsplit("/v1", 1)[0] for answer in refused} == set(urls)
    refusal = refused[0]
    assert refusal.headers["content-type"].startswith("application/problem+json")
    assert refusal.json()["title"] == "Trop de requêtes" and refusal.json()["status"] == 429
    assert "réessayez" in refusal.json()["detail"]
    assert 1 <= int(refusal.headers["retry-after"]) <= 60
    # Another token has its own limit, on either replica.
    assert post(urls[1], token("outreach"), 99).status_code == 202


def failed_sign_in(url: str, username: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=10) as browser:
        form = browser.get("/connexion")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        fields = {"csrf_token": csrf.group(1), "username": username, "password": "pas le bon", "next": "/"}
        return browser.post("/connexion", data=fields)


def test_failed_sign_ins_are_counted_across_replicas(replicas: Stack) -> None:
    username = "partage"
    with session_scope() as session:
        create_user(
            session,
            username=username,
            password="une phrase de passe assez longue",
            role="analyst",
            leads=[],
            territory_map=default_map(),
            now=utc_now(),
        )
        session.commit()
    urls = [replicas.url("api"), replicas.url("api2")]
    codes = [failed_sign_in(urls[n % 2], username).status_code for n in range(FAILED_SIGNINS_PER_USERNAME)]
    assert codes == [401] * FAILED_SIGNINS_PER_USERNAME
    for url in urls:  # the name is locked on both: neither counted alone
        locked = failed_sign_in(url, username)
        assert locked.status_code == 429 and "Trop de tentatives" in locked.text


def test_without_redis_intake_fails_open_and_says_so(replicas: Stack, token: TokenFactory) -> None:
    headers, admin = token("outreach"), token("admin")
    url = replicas.url("api")
    assert post(url, headers, 0).status_code == 202
    replicas.stop("redis")
    # Redis gone: every signal is still accepted (counted in the process, far from the limit), never a 5xx.
    codes = [post(url, headers, n).status_code for n in range(1, LIMIT // 2)]
    assert codes == [202] * len(codes)
    log = (replicas.workdir / "api.log").read_text(errors="replace")
    assert "limite de débit callers : Redis ne répond pas" in log
    figures = httpx.get(f"{url}/metrics", headers=admin, timeout=10)
    assert figures.status_code == 200
    fallbacks = [line for line in figures.text.splitlines() if line.startswith("urgence_rate_limit_fallbacks_total")]
    assert any('limit="callers"' in line and float(line.split()[-1]) >= len(codes) for line in fallbacks), fallbacks
    # Counted in the process meanwhile: a runaway client is still stopped by each replica.
    more = [post(url, headers, n).status_code for n in range(LIMIT, 2 * LIMIT + 2)]
    assert 429 in more and 500 not in more and 503 not in more
    # Redis back: the limit is shared again (the process says so once it answers).
    replicas.start_redis()
    fresh = token("outreach")

    def shared_again() -> bool:
        assert post(url, fresh, 0).status_code == 202
        return "Redis répond de nouveau" in (replicas.workdir / "api.log").read_text(errors="replace")

    wait_for(shared_again, timeout=15, interval=0.5, what="le retour de la limite partagée")


def in_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on an event loop of its own thread: the session's Playwright (sync API) keeps one running in
    the main thread once a browser test has run, and `asyncio.run` refuses to start beside it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def test_the_window_is_exact_under_concurrency_and_survives_a_script_flush(broker_url: str) -> None:
    async def burst(limiter: SharedRateLimiter) -> list[float | None]:
        try:
            return await asyncio.gather(*[limiter.hit("burst") for _ in range(3 * LIMIT)])
        finally:
            await limiter.close()

    limiter = SharedRateLimiter("essai", LIMIT, broker_url)
    waits = in_own_loop(burst(limiter))
    assert waits.count(None) == LIMIT and all(wait is not None and 1 <= wait <= 60 for wait in waits[LIMIT:])
    # Redis restarted without its scripts: the next call sends the script whole, and the count is still there.
    redis.Redis.from_url(broker_url).script_flush()
    assert in_own_loop(burst(limiter)).count(None) == 0
    # The sign-in's calls (from a worker thread): waiting does not count, recording does, forgetting clears.
    assert limiter.wait("personne") is None
    for _ in range(LIMIT):
        limiter.record("personne")
    assert limiter.wait("personne") is not None
    limiter.forget("personne")
    assert limiter.wait("personne") is None
