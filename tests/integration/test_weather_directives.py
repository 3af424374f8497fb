"""The weather plan reaches the very next signal: the 202's directives follow a plan set or lifted at once, in
every API replica (here the in-process app and a second API process on the same database), and the worker's
routing uses the plan in force when it routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.core.models import Signal
from tests.integration.conftest import TokenFactory
from tests.support.stack import running_stack

# One adult, no flag, in Paris: no directive of its own. A grand froid from level 2 (canicule from level 3) makes
# FR11 apply to anyone outside, whose directive is « Appelez le 115 ».
ADULT_14 = {
    "location": {"arrondissement": 14},
    "source": "maraude",
    "people": {"adults": 1, "children": 0, "unaccompanied_minors": 0},
    "flags": [],
}


@pytest.fixture
def replica(tmp_path: Path, database_url: str, broker_url: str) -> Iterator[httpx.Client]:
    """A second API process (`urgence api`), as another replica behind the same load balancer would be."""
    with running_stack(tmp_path, database_url) as stack:
        stack.env["URGENCE_BROKER_URL"] = broker_url
        stack.start_api(timeout=120)  # a readiness wait, not a speed goal: startup is slow on a loaded machine
        with httpx.Client(base_url=stack.base_url, timeout=10) as other:
            yield other


def test_directives_follow_the_plan_at_once_in_every_replica(
    client: TestClient, replica: httpx.Client, token: TokenFactory
) -> None:
    admin, outreach = token("admin"), token("outreach")
    replicas: dict[str, TestClient | httpx.Client] = {"in-process": client, "second process": replica}

    def directives(name: str) -> list[str]:
        answer = replicas[name].post("/v1/signals", json=ADULT_14, headers=outreach)
        assert answer.status_code == 202, answer.text
        return list(answer.json()["directives"])

    def plan(name: str, body: dict[str, Any] | None) -> None:
        if body is None:
            assert replicas[name].delete("/v1/weather-plan", headers=admin).status_code == 204
        else:
            assert replicas[name].put("/v1/weather-plan", json=body, headers=admin).status_code == 200

    # Both replicas have answered without a plan (a cache, if any, would now hold "no plan").
    assert directives("in-process") == [] and directives("second process") == []
    # Set on one replica, posted at once on the other, and on the first: no sleep anywhere.
    plan("in-process", {"kind": "grand_froid", "level": 2})
    assert directives("second process") == ["call_115"]
    assert directives("in-process") == ["call_115"]
    # Lifted on the second replica: the very next signal, on either, no longer gets it.
    plan("second process", None)
    assert directives("in-process") == []
    assert directives("second process") == []
    # A level below the fiche's threshold is a plan that does not apply; raising it applies at once.
    plan("second process", {"kind": "canicule", "level": 2})
    assert directives("in-process") == []
    plan("second process", {"kind": "canicule", "level": 3})
    assert directives("in-process") == ["call_115"]
    assert directives("second process") == ["call_115"]
    plan("in-process", None)
    assert directives("second process") == []


def test_the_worker_routes_with_the_plan_in_force_when_it_routes(
    client: TestClient, token: TokenFactory, worker: None, wait_routed: Callable[[str], Signal]
) -> None:
    admin, outreach = token("admin"), token("outreach")

    def routed_fiches() -> tuple[list[str], list[str]]:
        answer = client.post("/v1/signals", json=ADULT_14, headers=outreach)
        assert answer.status_code == 202, answer.text
        signal = wait_routed(answer.json()["id"])
        assert signal.decision is not None
        return [f["code"] for f in signal.decision["fiches"]], signal.decision["directives"]

    assert routed_fiches() == (["FR00"], [])
    assert client.put("/v1/weather-plan", json={"kind": "grand_froid", "level": 3}, headers=admin).status_code == 200
    assert routed_fiches() == (["FR11"], ["call_115"])
    assert client.delete("/v1/weather-plan", headers=admin).status_code == 204
    assert routed_fiches() == (["FR00"], [])
