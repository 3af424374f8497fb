"""From intake to a situation in a queue, through the outbox, the broker and a real worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from services.core.db import session_scope
from services.core.models import Event, OutboxMessage, Signal, Situation
from services.workers.tasks import orient_signal_task
from tests.integration.conftest import TokenFactory, family_13
from tests.support.cases import routing_cases
from tests.support.waiting import broker_idle, wait_for

pytestmark = pytest.mark.usefixtures("worker")
WaitRouted = Callable[[str], Signal]


def submit(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    answer = client.post("/v1/signals", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def seconds_after(instant: str, origin: str) -> float:
    return (datetime.fromisoformat(instant) - datetime.fromisoformat(origin)).total_seconds()


@pytest.mark.parametrize("case", routing_cases(), ids=lambda case: case["name"])
def test_routing_case_end_to_end(
    case: dict[str, Any], client: TestClient, token: TokenFactory, wait_routed: WaitRouted
) -> None:
    admin = token("admin")
    if case.get("weather_plan"):
        assert client.put("/v1/weather-plan", json=case["weather_plan"], headers=admin).status_code == 200
    signal_id = submit(client, token("outreach"), case["signal"])
    wait_routed(signal_id)
    view = client.get(f"/v1/signals/{signal_id}", headers=admin).json()
    expect = case["expect"]
    assert view["status"] == expect["status"]
    assert view["arrondissement"] == expect["arrondissement"]
    assert view["sector"] == expect["sector"]
    routing = view["routing"]
    assert routing["lead"] == expect["lead"]
    if expect["status"] == "out_of_territory":
        assert view["situation_id"] is None
        return
    assert routing["primary_fiche"] == expect["primary_fiche"]
    assert {f["code"] for f in routing["fiches"]} == set(expect["fiches"])
    assert set(routing["partners"]) == set(expect["partners"])
    assert set(routing["directives"]) == set(expect["directives"])
    for kind, seconds in expect["deadlines"].items():
        assert seconds_after(routing["deadlines"][kind], view["received_at"]) == seconds
    assert view["situation_id"] is not None


def test_family_lands_in_the_queue_of_the_eps_of_the_13th(
    client: TestClient, token: TokenFactory, wait_routed: WaitRouted
) -> None:
    signal_id = submit(client, token("outreach"), family_13())
    signal = wait_routed(signal_id)
    eps = token("coordinator", leads=["eps:paris-13"])
    queue = client.get("/v1/queues/eps:paris-13", headers=eps).json()
    assert [item["id"] for item in queue["items"]] == [signal.situation_id]
    item = queue["items"][0]
    assert item["status"] == "new" and item["primary_fiche"] == "FR01" and item["signal_count"] == 1
    assert queue["next_cursor"] is None
    situation = client.get(f"/v1/situations/{signal.situation_id}", headers=eps).json()
    assert situation["lead"] == "eps:paris-13" and situation["sector"] == "paris-13"
    assert situation["signal_ids"] == [signal_id]
    assert [event["type"] for event in situation["events"]] == ["opened"]
    assert situation["next_deadline"] == situation["deadlines"]["ack"]
    # Another sector's coordinator neither sees the queue nor the situation.
    other = token("coordinator", leads=["eps:paris-14"])
    assert client.get("/v1/queues/eps:paris-13", headers=other).status_code == 403
    assert client.get(f"/v1/situations/{signal.situation_id}", headers=other).status_code == 403


def test_an_opened_situation_keeps_the_reception_of_its_signal(
    client: TestClient, token: TokenFactory, wait_routed: WaitRouted
) -> None:
    outreach = token("outreach")
    first = wait_routed(submit(client, outreach, family_13()))
    joining = wait_routed(submit(client, outreach, family_13()))
    assert joining.situation_id == first.situation_id
    with session_scope() as session:
        situation = session.get(Situation, first.situation_id)
        assert situation is not None and situation.signal_count == 2
        # What the statistics count the opening on and measure delays from: the first signal's reception,
        # before the routing opened it; a signal joining later leaves it.
        assert situation.opening_received_at == first.received_at < situation.opened_at


def test_replayed_message_changes_nothing(client: TestClient, token: TokenFactory, wait_routed: WaitRouted) -> None:
    signal_id = submit(client, token("outreach"), family_13())
    first = wait_routed(signal_id)
    with session_scope() as session:
        events_before = session.exec(select(func.count()).select_from(Event)).one()
    # The same message delivered again, through the broker, as a redelivery would.
    orient_signal_task.delay(signal_id=signal_id)
    orient_signal_task.delay(signal_id=signal_id, outbox_id=None)
    wait_for(broker_idle, what="le traitement des messages rejoués")
    with session_scope() as session:
        signal = session.get(Signal, signal_id)
        assert signal is not None and signal.situation_id == first.situation_id and signal.routed_at == first.routed_at
        assert session.exec(select(func.count()).select_from(Situation)).one() == 1
        assert session.exec(select(func.count()).select_from(Event)).one() == events_before
        outbox = session.exec(select(OutboxMessage)).one()
        assert outbox.done_at is not None


def test_queue_is_sorted_by_soonest_deadline_and_paginated(
    client: TestClient, token: TokenFactory, wait_routed: WaitRouted
) -> None:
    outreach = token("outreach")
    # Far apart in the 13th, so that none joins another: FR00 (1 day to ack) and FR07 (2 hours), FR05 (15 min).
    bodies = [
        {"location": {"lat": 48.8322, "lon": 2.3561}, "source": "maraude", "people": {"adults": 1}},
        {
            "location": {"lat": 48.8270, "lon": 2.3760},
            "source": "maraude",
            "people": {"adults": 1},
            "flags": ["vital_emergency"],
        },
        {
            "location": {"lat": 48.8210, "lon": 2.3420},
            "source": "maraude",
            "people": {"adults": 1, "adult_genders": ["female"]},
        },
    ]
    ids = [submit(client, outreach, body) for body in bodies]
    for signal_id in ids:
        wait_routed(signal_id)
    mus = token("coordinator", leads=["mus"])
    seen: list[dict[str, Any]] = []
    cursor = None
    for lead in ("cavs:sud",):
        while True:
            params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = client.get(f"/v1/queues/{lead}", headers=mus, params=params).json()
            seen.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert [item["primary_fiche"] for item in seen] == ["FR05", "FR07", "FR00"]
    deadlines = [item["next_deadline"] for item in seen]
    assert deadlines == sorted(deadlines)


def test_bad_cursor_and_limit_are_422(client: TestClient, token: TokenFactory) -> None:
    mus = token("coordinator", leads=["mus"])
    assert client.get("/v1/queues/mus", headers=mus, params={"cursor": "%%%"}).status_code == 422
    assert client.get("/v1/queues/mus", headers=mus, params={"limit": 501}).status_code == 422
    assert client.get("/v1/queues/eps:paris-99", headers=mus).status_code == 404
