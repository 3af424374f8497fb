"""A publication is in force in every process for its next decision, without restart: an API and two workers,
real processes, each having decided with the previous book, decide with the new one right after it is
published. Each worker is shown alone by pausing the other (SIGSTOP): whatever the paused one may hold, the
relay hands it again to the one running."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.core.db import session_scope
from services.core.models import Signal
from tests.integration.conftest import TokenFactory, family_13
from tests.support.stack import Stack, running_stack
from tests.support.waiting import wait_for


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path, database_url) as running:
        running.start_redis()
        running.start_api()
        running.start_relay()
        running.start_worker("worker-a")
        running.start_worker("worker-b")
        yield running


@contextmanager
def paused(stack: Stack, name: str) -> Iterator[None]:
    group = stack.processes[name].pid
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def decision_of(signal_id: str) -> dict[str, Any] | None:
    with session_scope() as session:
        found = session.get(Signal, signal_id)
        return found.decision if found is not None and found.status == "routed" else None


def submit(http: httpx.Client, index: int) -> dict[str, Any]:
    # Places far apart: no signal joins another's situation.
    body = family_13(location={"lat": 48.822 + 0.004 * (index % 5), "lon": 2.33 + 0.006 * (index // 5)})
    answer = http.post("/v1/signals", json=body)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def routed_by_each_worker_alone(
    stack: Stack, http: httpx.Client, first: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A signal decided by worker-a alone, then one by worker-b alone: (the API's answer, the decision)."""
    results = []
    for index, other in enumerate(("worker-b", "worker-a")):
        with paused(stack, other):
            accepted = submit(http, first + index)
            signal_id = accepted["id"]
            decision = wait_for(partial(decision_of, signal_id), timeout=30, what="le routage")
        results.append((accepted, decision))
    return results


def test_an_api_and_two_workers_decide_with_a_publication_at_once_without_restart(
    stack: Stack, token: TokenFactory
) -> None:
    outreach, mus = token("outreach"), token("coordinator", leads=["mus"])
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        http.headers.update(outreach)
        wait_for(lambda: http.get("/v1/weather-plan").status_code == 200, timeout=30, what="l'API")
        before = http.get("/v1/fiches", headers=mus).json()
        for accepted, decision in routed_by_each_worker_alone(stack, http, 0):
            assert decision["fiche_book"] == before["book"] and decision["lead"].startswith("eps:")
            assert "call_15" not in accepted["directives"]

        # A draft that fails its checks is refused and reaches no process.
        fr01 = next(item["document"] for item in before["items"] if item["code"] == "FR01")
        broken = {**fr01, "lead": "personne"}
        assert http.post("/v1/fiches/drafts", json=broken, headers=mus).status_code == 422

        changed = {**fr01, "version": "2026-12-02.1", "lead": "mus", "directives": ["call_115", "call_15"]}
        draft = http.post("/v1/fiches/drafts", json=changed, headers=mus)
        assert draft.status_code == 201, draft.text
        publication = http.post(f"/v1/fiches/drafts/{draft.json()['id']}/publish", headers=mus)
        assert publication.status_code == 200, publication.text
        book = publication.json()["book"]

        after = routed_by_each_worker_alone(stack, http, 2)
        for accepted, decision in after:
            assert "call_15" in accepted["directives"], "the API's directives come from the new book"
            assert decision["fiche_book"] == book and decision["lead"] == "mus", stack.logs()
