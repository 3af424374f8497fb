"""Out-of-territory signals (contract 1.1): the MUS lists and reads them, and places a misplaced one in an
arrondissement, which routes it again through the worker's own path (opens or joins a situation, once)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from services.core.db import session_scope
from services.core.models import Event, Signal, Situation
from tests.integration.conftest import TokenFactory, family_13

PERSONAL_KEYS = {"location", "place", "description"}
WaitRouted = Callable[[str], Signal]


def outside(**changes: Any) -> dict[str, Any]:
    """A single adult reported in Bobigny (93): outside Paris."""
    body: dict[str, Any] = {
        "location": {"postcode": "93000", "address": "place de la Libération"},
        "source": "riverain",
        "people": {"adults": 1, "children": 0, "unaccompanied_minors": 0},
        "flags": [],
        "place": "sous le pont",
        "description": "Homme seul, semble désorienté.",
    }
    body.update(changes)
    return body


def submit(client: TestClient, headers: dict[str, str], body: dict[str, Any], wait_routed: WaitRouted) -> Signal:
    answer = client.post("/v1/signals", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return wait_routed(answer.json()["id"])


def situation_count() -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(Situation)).one()


def audit_actions(client: TestClient, admin: dict[str, str], signal_id: str) -> list[tuple[str, str]]:
    answer = client.get(f"/v1/audit?signal_id={signal_id}", headers=admin)
    assert answer.status_code == 200, answer.text
    return [(entry["action"], entry["role"]) for entry in answer.json()["items"]]


def fields(answer: Any) -> set[str]:
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    return {error["field"] for error in answer.json().get("errors", [])}


@pytest.fixture
def people(token: TokenFactory) -> dict[str, dict[str, str]]:
    return {
        "outreach": token("outreach"),
        "mus": token("coordinator", leads=["mus"], name="mus"),
        "coord13": token("coordinator", leads=["eps:paris-13"]),
        "admin": token("admin"),
        "analyst": token("analyst"),
    }


def test_the_mus_lists_them_newest_first_page_by_page_without_personal_data(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    ids = [submit(client, people["outreach"], outside(), wait_routed).id for _ in range(3)]
    outside_by_coordinates = submit(
        client, people["outreach"], outside(location={"lat": 48.9100, "lon": 2.4400}), wait_routed
    )
    ids.append(outside_by_coordinates.id)
    in_paris = submit(client, people["outreach"], family_13(), wait_routed)
    assert in_paris.status == "routed"

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        url = "/v1/signals?status=out_of_territory&limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(url, headers=people["mus"])
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert set(page) == {"items", "next_cursor"}
        for item in page["items"]:
            assert item["status"] == "out_of_territory" and item["situation_id"] is None
            assert item["routing"]["lead"] is None and "call_115" in item["routing"]["directives"]
            assert not PERSONAL_KEYS & set(item)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each once, the signal in Paris in none
    # Listing reads nothing personal: nothing is audited.
    assert audit_actions(client, people["admin"], ids[0]) == []

    # Admins oversee the list (no personal data there either); nobody else sees it.
    admin_list = client.get("/v1/signals?status=out_of_territory&limit=500", headers=people["admin"])
    assert admin_list.status_code == 200 and [i["id"] for i in admin_list.json()["items"]] == seen
    for role in ("outreach", "coord13", "analyst"):
        refused = client.get("/v1/signals?status=out_of_territory", headers=people[role])
        assert refused.status_code == 403, (role, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "status"),
        ("status=routed", "status"),
        ("status=out_of_territory&limit=0", "limit"),
        ("status=out_of_territory&limit=501", "limit"),
        ("status=out_of_territory&cursor=pas-du-base64!", "cursor"),
        ("status=out_of_territory&cursor=" + base64.urlsafe_b64encode(b'{"a": 1}').decode(), "cursor"),
        (
            "status=out_of_territory&cursor=" + base64.urlsafe_b64encode(b'["2026-01-14T22:40:00", "x"]').decode(),
            "cursor",
        ),
        (
            "status=out_of_territory&cursor="
            + base64.urlsafe_b64encode(
                b'["0001-01-01T00:00:00+01:00", "5d6c1e6a-0b7e-4d0e-9a55-2f8c1b1f7a10"]'
            ).decode(),
            "cursor",
        ),
        (
            "status=out_of_territory&cursor="
            + base64.urlsafe_b64encode(b'["2026-01-14T22:40:00+01:00", "\\ud800"]').decode(),
            "cursor",
        ),
        ("status=out_of_territory&cursor=" + base64.urlsafe_b64encode(b"\xff\xfe").decode(), "cursor"),
    ],
)
def test_a_bad_list_request_names_its_field(
    client: TestClient, people: dict[str, dict[str, str]], query: str, field: str
) -> None:
    answer = client.get(f"/v1/signals?{query}", headers=people["mus"])
    assert answer.status_code == 422, answer.text
    assert any(name.endswith(field) for name in fields(answer)), answer.text


def test_the_mus_reads_one_with_its_personal_data_audited_admins_without(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    signal = submit(client, people["outreach"], outside(), wait_routed)
    assert signal.status == "out_of_territory"
    path = f"/v1/signals/{signal.id}"

    read = client.get(path, headers=people["mus"])
    assert read.status_code == 200, read.text
    view = read.json()
    assert view["location"] == {"postcode": "93000", "address": "place de la Libération"}
    assert view["description"] == "Homme seul, semble désorienté." and view["place"] == "sous le pont"
    assert view["arrondissement"] is None and view["sector"] is None and view["situation_id"] is None
    assert audit_actions(client, people["admin"], signal.id) == [("signal.read", "coordinator")]

    admin = client.get(path, headers=people["admin"])
    assert admin.status_code == 200 and not PERSONAL_KEYS & set(admin.json())
    assert client.get(path, headers=people["coord13"]).status_code == 403  # no lead of its own: not theirs
    assert client.get(path, headers=people["analyst"]).status_code == 403
    assert audit_actions(client, people["admin"], signal.id) == [("signal.read", "coordinator")]


def test_assigning_routes_it_again_once_with_the_event_and_audit_naming_who(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    family = {"adults": 1, "children": 2, "unaccompanied_minors": 0}  # FR01: the EPS of the sector leads
    signal = submit(client, people["outreach"], outside(people=family), wait_routed)
    assign = f"/v1/signals/{signal.id}/assign"
    for role in ("outreach", "coord13", "admin", "analyst"):
        assert client.post(assign, json={"arrondissement": 13}, headers=people[role]).status_code == 403, role
    assert situation_count() == 0

    answer = client.post(assign, json={"arrondissement": 13}, headers=people["mus"])
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["status"], view["arrondissement"], view["sector"]) == ("routed", 13, "paris-13")
    assert view["routing"]["lead"] == "eps:paris-13" and view["routing"]["deadlines"] is not None
    assert "assigned_arrondissement:13" in view["routing"]["notes"]
    assert view["routing"]["primary_fiche"] == "FR01" and view["routing"]["partners"]
    assert view["description"] == "Homme seul, semble désorienté."  # the MUS placed it: it reads it
    situation_id = view["situation_id"]
    assert situation_id is not None and situation_count() == 1

    # The situation's timeline says who placed it; the audit too; the lead now sees it in its queue.
    timeline = client.get(f"/v1/situations/{situation_id}", headers=people["mus"]).json()
    assert timeline["signal_ids"] == [signal.id] and timeline["lead"] == "eps:paris-13"
    assigned = [e for e in timeline["events"] if e["type"] == "signal_assigned"]
    assert [(e["actor"], e["data"]["arrondissement"]) for e in assigned] == [("coordinator:mus", 13)]
    assert ("signal.assign", "coordinator") in audit_actions(client, people["admin"], signal.id)
    queue = client.get("/v1/queues/eps:paris-13", headers=people["coord13"]).json()["items"]
    assert [item["id"] for item in queue] == [situation_id]
    assert client.get(f"/v1/signals/{signal.id}", headers=people["coord13"]).status_code == 200
    listed = client.get("/v1/signals?status=out_of_territory", headers=people["mus"]).json()["items"]
    assert signal.id not in [item["id"] for item in listed]

    # Again, the same: nothing changes. Another arrondissement: the signal is no longer out of territory.
    again = client.post(assign, json={"arrondissement": 13}, headers=people["mus"])
    assert again.status_code == 200 and again.json()["situation_id"] == situation_id
    other = client.post(assign, json={"arrondissement": 14}, headers=people["mus"])
    assert other.status_code == 409 and "routed" in other.json()["detail"], other.text
    assert situation_count() == 1
    with session_scope() as session:
        events = session.exec(
            select(Event.type).where(col(Event.situation_id) == situation_id, col(Event.type) == "signal_assigned")
        ).all()
    assert len(events) == 1


def test_assigning_joins_the_open_situation_of_the_same_family(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    in_paris = submit(client, people["outreach"], family_13(), wait_routed)
    # The same family, reported with a postcode of the Val-de-Marne by mistake.
    misplaced = submit(
        client, people["outreach"], family_13(location={"postcode": "94200"}, source="riverain"), wait_routed
    )
    assert misplaced.status == "out_of_territory" and situation_count() == 1

    answer = client.post(f"/v1/signals/{misplaced.id}/assign", json={"arrondissement": 13}, headers=people["mus"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["situation_id"] == in_paris.situation_id
    situation = client.get(f"/v1/situations/{in_paris.situation_id}", headers=people["mus"]).json()
    assert situation["signal_ids"] == [in_paris.id, misplaced.id]
    assert [e["type"] for e in situation["events"]].count("signal_joined") == 1
    assert situation_count() == 1


def test_two_assignments_at_once_open_one_situation(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    signal = submit(client, people["outreach"], outside(), wait_routed)

    def assign(_: int) -> Any:
        return client.post(f"/v1/signals/{signal.id}/assign", json={"arrondissement": 18}, headers=people["mus"])

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(assign, range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.json()["situation_id"] for a in answers}) == 1 and situation_count() == 1
    assert [a for a, _ in audit_actions(client, people["admin"], signal.id)].count("signal.assign") == 1


def test_assigning_a_signal_that_is_not_out_of_territory_is_a_conflict(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted
) -> None:
    routed = submit(client, people["outreach"], family_13(), wait_routed)
    answer = client.post(f"/v1/signals/{routed.id}/assign", json={"arrondissement": 13}, headers=people["mus"])
    assert answer.status_code == 409 and "routed" in answer.json()["detail"], answer.text
    unknown = client.post("/v1/signals/inconnu/assign", json={"arrondissement": 13}, headers=people["mus"])
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"arrondissement": 0},
        {"arrondissement": 21},
        {"arrondissement": "13"},
        {"arrondissement": 13.5},
        {},
        {"arrondissement": None},
    ],
)
def test_a_bad_arrondissement_is_named(
    client: TestClient, people: dict[str, dict[str, str]], worker: None, wait_routed: WaitRouted, body: Any
) -> None:
    signal = submit(client, people["outreach"], outside(), wait_routed)
    answer = client.post(f"/v1/signals/{signal.id}/assign", json=body, headers=people["mus"])
    assert answer.status_code == 422, answer.text
    assert any(name.endswith("arrondissement") for name in fields(answer)), answer.text
    with session_scope() as session:
        stored = session.get(Signal, signal.id)
        assert stored is not None and stored.status == "out_of_territory"
