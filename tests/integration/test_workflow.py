"""The situation state machine through the API: lifecycle, every refused transition, validation, who may act,
concurrent actions, requalification, merge, manual escalation, queues and filters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import text

from services.core.db import session_scope
from services.core.errors import Conflict
from services.core.situations.actions import acknowledge, lock_situations
from tests.integration.conftest import TokenFactory
from tests.integration.test_workflow_helpers import (
    BASE,
    WaitRouted,
    configure,
    deliveries,
    events_of,
    family,
    iso,
    north_of,
    route_one,
    single_adult,
    situation_row,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("worker")
EPS_13 = "eps:paris-13"
CAVS_SUD = "cavs:sud"


def act(client: TestClient, headers: dict[str, str], situation_id: str, action: str, body: Any = None) -> Response:
    return client.post(f"/v1/situations/{situation_id}/{action}", json=body, headers=headers)


def ok(answer: Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


@pytest.fixture
def eps(token: TokenFactory) -> dict[str, str]:
    return token("coordinator", leads=[EPS_13], name="eps13")


@pytest.fixture
def cavs(token: TokenFactory) -> dict[str, str]:
    return token("coordinator", leads=[CAVS_SUD], name="cavs-sud")


@pytest.fixture
def mus(token: TokenFactory) -> dict[str, str]:
    return token("coordinator", leads=["mus"], name="mus")


def test_lifecycle_from_new_to_resolved_and_reopened(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    started = datetime.now(UTC)

    view = ok(act(client, eps, situation_id, "acknowledge"))
    assert view["status"] == "acknowledged" and view["acknowledged_at"] is not None
    # The ack deadline is met: the next one is the contact's.
    assert view["next_deadline"] == view["deadlines"]["contact"]

    view = ok(act(client, eps, situation_id, "contacts", {"result": "not_found", "note": "personne absente"}))
    assert view["status"] == "acknowledged"  # only `met` moves it on
    first_visit = datetime.fromisoformat(view["first_contact_at"])
    assert first_visit >= started - timedelta(seconds=1)
    assert view["next_deadline"] == view["deadlines"]["resolve"]

    earlier = datetime.now(UTC) - timedelta(minutes=30)
    view = ok(act(client, eps, situation_id, "contacts", {"result": "met", "at": earlier.isoformat()}))
    assert view["status"] == "in_progress"
    # The first contact is the earliest one logged, whatever the order of logging.
    assert datetime.fromisoformat(view["first_contact_at"]) == earlier

    view = ok(act(client, eps, situation_id, "resolve", {"outcome": "sheltered", "note": "mise à l'abri CHU"}))
    assert view["status"] == "resolved" and view["outcome"] == "sheltered"
    assert view["resolved_at"] is not None and view["next_deadline"] is None

    before_reopen = datetime.now(UTC)
    view = ok(act(client, eps, situation_id, "reopen", {"reason": "la famille est de retour dans la rue"}))
    assert view["status"] == "in_progress" and view["outcome"] is None and view["resolved_at"] is None
    # A fresh resolution window (FR01: one day) from the reopening.
    assert datetime.fromisoformat(view["deadlines"]["resolve"]) >= before_reopen + timedelta(days=1)
    assert view["next_deadline"] == view["deadlines"]["resolve"]

    view = ok(act(client, eps, situation_id, "resolve", {"outcome": "other", "note": "partie avec de la famille"}))
    assert view["status"] == "resolved" and view["outcome"] == "other"

    events = view["events"]
    assert [e["type"] for e in events] == [
        "opened",
        "acknowledged",
        "contact_logged",
        "contact_logged",
        "resolved",
        "reopened",
        "resolved",
    ]
    assert {e["actor"] for e in events[1:]} == {"coordinator:eps13"}
    # History is kept: the first outcome stays in its event after the reopening cleared it from the projection.
    assert events[4]["data"]["outcome"] == "sheltered"
    assert events[5]["data"] == events[5]["data"] | {"previous_outcome": "sheltered"}
    assert events[3]["data"]["status"] == {"from": "acknowledged", "to": "in_progress"}
    assert events[2]["data"]["note"] == "personne absente"


def test_met_from_new_skips_acknowledged_and_counts_as_acknowledgement(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    view = ok(act(client, eps, situation_id, "contacts", {"result": "met"}))
    assert view["status"] == "in_progress"
    assert view["acknowledged_at"] is not None and view["first_contact_at"] is not None
    assert view["events"][-1]["data"]["implicit_ack"] is True


# --- Every transition the state machine refuses -------------------------------------------------------------

ACTION_BODIES: dict[str, Any] = {
    "acknowledge": None,
    "contacts": {"result": "met"},
    "resolve": {"outcome": "sheltered"},
    "reopen": {"reason": "de retour"},
    "escalate": {"reason": "situation complexe"},
    "requalify": {"add_flags": ["pregnant"]},
    "merge": "OTHER",  # replaced by another open situation's id
}
# (status the situation is brought to, the action refused from it)
REFUSED = [
    ("acknowledged", "acknowledge"),
    ("in_progress", "acknowledge"),
    ("new", "reopen"),
    ("acknowledged", "reopen"),
    ("in_progress", "reopen"),
    *(("resolved", action) for action in ACTION_BODIES if action != "reopen"),
    *(("merged", action) for action in ACTION_BODIES),
]


def bring_to(client: TestClient, headers: dict[str, str], situation_id: str, status: str, other_id: str) -> None:
    plans: dict[str, list[tuple[str, dict[str, Any] | None]]] = {
        "new": [],
        "acknowledged": [("acknowledge", None)],
        "in_progress": [("contacts", {"result": "met"})],
        "resolved": [("resolve", {"outcome": "not_found"})],
        "merged": [("merge", {"into": other_id})],
    }
    steps = plans[status]
    for action, body in steps:
        ok(act(client, headers, situation_id, action, body))


@pytest.mark.parametrize(("status", "action"), REFUSED, ids=[f"{a}-from-{s}" for s, a in REFUSED])
def test_action_not_allowed_from_status_is_409_naming_it(
    status: str,
    action: str,
    client: TestClient,
    outreach: dict[str, str],
    mus: dict[str, str],
    wait_routed: WaitRouted,
) -> None:
    situation_id = route_one(client, outreach, wait_routed, single_adult())
    other_id = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600)))
    spare_id = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 1200)))
    assert len({situation_id, other_id, spare_id}) == 3
    bring_to(client, mus, situation_id, status, other_id)
    before = situation_row(situation_id)
    body = ACTION_BODIES[action]
    if body == "OTHER":
        body = {"into": spare_id}

    answer = act(client, mus, situation_id, action, body)

    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == 409 and problem["title"] == "Conflit"
    assert f"« {status} »" in problem["detail"]
    after = situation_row(situation_id)
    assert (after.status, after.updated_at, after.escalation_level) == (
        before.status,
        before.updated_at,
        before.escalation_level,
    )


def test_merge_into_a_closed_situation_is_409_naming_its_status(
    client: TestClient, outreach: dict[str, str], mus: dict[str, str], wait_routed: WaitRouted
) -> None:
    source = route_one(client, outreach, wait_routed, single_adult())
    target = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600)))
    ok(act(client, mus, target, "resolve", {"outcome": "left_area"}))
    answer = act(client, mus, source, "merge", {"into": target})
    assert answer.status_code == 409 and "« resolved »" in answer.json()["detail"]
    assert situation_row(source).status == "new"


# --- Validation ----------------------------------------------------------------------------------------------

INVALID = [
    ("resolve", {"outcome": "other"}, "note"),
    ("resolve", {"outcome": "other", "note": "   "}, "note"),
    ("resolve", {"outcome": "gone"}, "outcome"),
    ("resolve", {"outcome": "sheltered", "note": "x" * 2001}, "note"),
    ("resolve", {"outcome": "sheltered", "extra": 1}, "extra"),
    ("contacts", {"result": "met", "at": "2999-01-01T00:00:00+01:00"}, "at"),
    ("contacts", {"result": "met", "at": "2026-01-01T00:00:00"}, "at"),
    ("contacts", {"result": "seen"}, "result"),
    ("contacts", {}, "result"),
    ("escalate", {"reason": ""}, "reason"),
    ("escalate", {"reason": "x" * 501}, "reason"),
    ("reopen", {}, "reason"),
    ("requalify", {"add_flags": ["flying"]}, "add_flags.0"),
    ("requalify", {"add_flags": ["pregnant"], "remove_flags": ["pregnant"]}, "remove_flags"),
    ("merge", {"into": "SELF"}, "into"),
    ("merge", {"into": "00000000-0000-0000-0000-000000000000"}, "into"),
]


@pytest.mark.parametrize(
    ("action", "body", "field"), INVALID, ids=[f"{a}-{f}-{i}" for i, (a, _, f) in enumerate(INVALID)]
)
def test_invalid_bodies_are_422_naming_the_field(
    action: str,
    body: dict[str, Any],
    field: str,
    client: TestClient,
    outreach: dict[str, str],
    mus: dict[str, str],
    wait_routed: WaitRouted,
) -> None:
    situation_id = route_one(client, outreach, wait_routed, single_adult())
    if body.get("into") == "SELF":
        body = {"into": situation_id}
    if action == "reopen":
        ok(act(client, mus, situation_id, "resolve", {"outcome": "refused"}))
    before = situation_row(situation_id)
    answer = act(client, mus, situation_id, action, body)
    assert answer.status_code == 422, answer.text
    assert field in [error["field"] for error in answer.json()["errors"]]
    assert situation_row(situation_id).updated_at == before.updated_at


# --- Who may act ---------------------------------------------------------------------------------------------


def test_only_the_lead_and_the_mus_act_admins_read_only(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())  # lead eps:paris-13
    other_sector = token("coordinator", leads=["eps:paris-14"])
    admin = token("admin")
    analyst = token("analyst")
    assert act(client, other_sector, situation_id, "acknowledge").status_code == 403
    assert act(client, outreach, situation_id, "acknowledge").status_code == 403
    assert act(client, analyst, situation_id, "acknowledge").status_code == 403
    refused = act(client, admin, situation_id, "acknowledge")
    assert refused.status_code == 403 and refused.json()["title"] == "Accès refusé"
    assert client.get(f"/v1/situations/{situation_id}", headers=admin).status_code == 200
    assert act(client, token("coordinator", leads=[EPS_13]), "nope", "acknowledge").status_code == 404
    assert situation_row(situation_id).status == "new"
    ok(act(client, token("coordinator", leads=["mus"]), situation_id, "acknowledge"))


# --- Concurrency ---------------------------------------------------------------------------------------------


def _waiting_on_a_lock() -> bool:
    with session_scope() as session:
        waiting = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
        return int(waiting) > 0


def test_second_of_two_concurrent_actions_waits_for_the_lock_then_sees_the_first(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    outcome: dict[str, object] = {}

    def second() -> None:
        with session_scope() as session:
            situation = lock_situations(session, [situation_id])[situation_id]
            try:
                acknowledge(session, situation, actor="b", now=datetime.now(UTC))
                session.commit()
                outcome["b"] = "acknowledged"
            except Conflict as err:
                outcome["b"] = err

    with session_scope() as first:
        situation = lock_situations(first, [situation_id])[situation_id]
        acknowledge(first, situation, actor="a", now=datetime.now(UTC))
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(_waiting_on_a_lock, what="le second verrou en attente")
        first.commit()
    thread.join(10)
    assert isinstance(outcome["b"], Conflict) and "« acknowledged »" in outcome["b"].detail
    assert [e.actor for e in events_of(situation_id, "acknowledged")] == ["a"]


def test_concurrent_requests_only_one_wins(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda _: act(client, eps, situation_id, "acknowledge").status_code, range(6)))
    assert sorted(codes) == [200, 409, 409, 409, 409, 409]
    assert len(events_of(situation_id, "acknowledged")) == 1


# --- Requalification -----------------------------------------------------------------------------------------


def test_requalify_reroutes_tightens_then_loosens_and_alerts_the_new_lead(
    client: TestClient,
    token: TokenFactory,
    outreach: dict[str, str],
    cavs: dict[str, str],
    eps: dict[str, str],
    wait_routed: WaitRouted,
) -> None:
    admin = token("admin")
    configure(client, admin, EPS_13, email="eps-13@example.org")
    situation_id = route_one(client, outreach, wait_routed, single_adult())
    opened = ok(client.get(f"/v1/situations/{situation_id}", headers=cavs))
    assert (opened["primary_fiche"], opened["lead"]) == ("FR00", CAVS_SUD)

    before = datetime.now(UTC)
    view = ok(act(client, cavs, situation_id, "requalify", {"add_flags": ["pregnant"]}))
    after = datetime.now(UTC)
    assert (view["primary_fiche"], view["lead"]) == ("FR02", EPS_13)
    assert "pmi" in view["partners"]
    # Tighter: FR02 gives one hour to acknowledge, counted from now (never in the past).
    ack = datetime.fromisoformat(view["deadlines"]["ack"])
    assert before + timedelta(hours=1) - timedelta(seconds=1) <= ack <= after + timedelta(hours=1)
    event = view["events"][-1]
    assert event["type"] == "requalified" and event["actor"] == "coordinator:cavs-sud"
    assert event["data"]["cause"] == "manual" and event["data"]["add_flags"] == ["pregnant"]
    assert event["data"]["from"]["lead"] == CAVS_SUD and event["data"]["to"]["lead"] == EPS_13
    alerts = deliveries(situation_id=situation_id, kind="requalified")
    assert [(d.structure_code, d.channel) for d in alerts] == [(EPS_13, "email")]
    assert alerts[0].payload["details"] == {"previous_lead": CAVS_SUD, "previous_primary_fiche": "FR00"}
    # The former lead no longer sees it; the new one does and may act.
    assert client.get(f"/v1/situations/{situation_id}", headers=cavs).status_code == 403

    # Loosening is allowed (a human correcting a fact): back to the general procedure's deadlines from reception.
    view = ok(act(client, eps, situation_id, "requalify", {"remove_flags": ["pregnant"]}))
    assert (view["primary_fiche"], view["lead"]) == ("FR00", CAVS_SUD)
    assert view["deadlines"] == opened["deadlines"]


def test_requalify_without_flags_reroutes_on_the_current_fiches(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    view = ok(act(client, eps, situation_id, "requalify", {}))
    assert view["primary_fiche"] == "FR01" and view["lead"] == EPS_13
    assert view["events"][-1]["type"] == "requalified"


# --- Merge ---------------------------------------------------------------------------------------------------


def test_merge_moves_signals_combines_and_keeps_both_timelines(
    client: TestClient, outreach: dict[str, str], mus: dict[str, str], wait_routed: WaitRouted
) -> None:
    far = north_of(BASE, 600)  # too far to join on its own
    source = route_one(client, outreach, wait_routed, family())  # FR01, eps:paris-13
    target = route_one(client, outreach, wait_routed, single_adult(far))  # FR00, cavs:sud
    second = route_one(client, outreach, wait_routed, single_adult(north_of(far, 10)))
    assert second == target
    ok(act(client, mus, source, "contacts", {"result": "met"}))
    source_signals = ok(client.get(f"/v1/situations/{source}", headers=mus))["signal_ids"]

    merged = ok(act(client, mus, source, "merge", {"into": target}))
    assert merged["status"] == "merged" and merged["merged_into"] == target
    assert merged["signal_ids"] == [] and merged["signal_count"] == 0
    assert merged["events"][-1]["type"] == "merged"
    assert merged["events"][-1]["data"] == {"into": target, "signal_ids": source_signals}

    combined = ok(client.get(f"/v1/situations/{target}", headers=mus))
    assert set(source_signals) < set(combined["signal_ids"]) and combined["signal_count"] == 3
    # Combined as a join combines: the family's fiche wins, its lead with it; progress kept.
    assert (combined["primary_fiche"], combined["lead"]) == ("FR01", EPS_13)
    assert combined["status"] == "in_progress" and combined["first_contact_at"] is not None
    types = [e["type"] for e in combined["events"]]
    assert types[-3:] == ["merged_in", "requalified", "escalated"]  # a third signal: repeated_signals
    assert combined["events"][-2]["data"]["cause"] == "merge"
    assert combined["escalation_reasons"] == ["repeated_signals"]
    for signal_id in source_signals:
        assert ok(client.get(f"/v1/signals/{signal_id}", headers=mus))["situation_id"] == target


def test_merge_needs_the_right_to_act_on_the_target(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], wait_routed: WaitRouted
) -> None:
    source = route_one(client, outreach, wait_routed, family())  # eps:paris-13
    target = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600)))  # cavs:sud
    answer = act(client, eps, source, "merge", {"into": target})
    assert answer.status_code == 403  # the target exists but is not one of its situations
    assert situation_row(source).status == "new"


# --- Manual escalation, queues, filters ----------------------------------------------------------------------


def test_manual_escalation_once_and_the_mus_queue_shows_it(
    client: TestClient, outreach: dict[str, str], eps: dict[str, str], mus: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    assert client.get("/v1/queues/mus", headers=mus).json()["items"] == []

    view = ok(act(client, eps, situation_id, "escalate", {"reason": "refus de toute orientation, enfants malades"}))
    assert view["escalation_level"] == 1 and view["escalation_reasons"] == ["manual"]
    event = view["events"][-1]
    assert event["type"] == "escalated" and event["data"]["note"].startswith("refus de toute")

    again = act(client, eps, situation_id, "escalate", {"reason": "autre motif"})
    assert again.status_code == 409
    assert situation_row(situation_id).escalation_level == 1

    mus_queue = client.get("/v1/queues/mus", headers=mus).json()["items"]
    assert [(i["id"], i["lead"], i["escalation_level"]) for i in mus_queue] == [(situation_id, EPS_13, 1)]
    assert [i["id"] for i in client.get(f"/v1/queues/{EPS_13}", headers=eps).json()["items"]] == [situation_id]
    # Closed, it leaves both queues.
    ok(act(client, mus, situation_id, "resolve", {"outcome": "hospitalized"}))
    assert client.get("/v1/queues/mus", headers=mus).json()["items"] == []
    assert client.get(f"/v1/queues/{EPS_13}", headers=eps).json()["items"] == []


def test_situation_search_filters(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], mus: dict[str, str], wait_routed: WaitRouted
) -> None:
    fam = route_one(client, outreach, wait_routed, family())  # FR01 eps:paris-13
    adult = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600)))  # FR00 cavs:sud
    in_14 = route_one(client, outreach, wait_routed, single_adult({"arrondissement": 14}))  # FR00 cavs:sud
    ok(act(client, mus, adult, "resolve", {"outcome": "oriented"}))

    def ids(query: str) -> set[str]:
        answer = client.get(f"/v1/situations?{query}", headers=mus)
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    assert ids("") == {fam, adult, in_14}
    assert ids("sector=paris-13") == {fam, adult}
    assert ids("lead=cavs:sud") == {adult, in_14}
    assert ids("status=resolved") == {adult}
    assert ids("status=new&sector=paris-13") == {fam}
    assert ids("primary_fiche=FR01") == {fam}
    # An unencoded `+` in the offset arrives as a space: still read as an offset.
    assert ids("opened_from=2020-01-01T00:00:00+01:00") == {fam, adult, in_14}
    assert ids("opened_to=2020-01-01T00:00:00%2B01:00") == set()
    assert ids(f"opened_from={iso(datetime.now(UTC) + timedelta(minutes=5)).replace('+', '%2B')}") == set()
    # Filters are instants a client sends: bounded like the others (contract 1.1).
    later = iso(datetime.now(UTC) + timedelta(hours=1)).replace("+", "%2B")
    refused = client.get(f"/v1/situations?opened_from={later}", headers=mus)
    assert refused.status_code == 422
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("opened_from", "not_future")]
    assert client.get("/v1/situations?opened_from=2020-01-01T00:00:00", headers=mus).status_code == 422
    assert client.get("/v1/situations?opened_from=hier", headers=mus).status_code == 422
    assert client.get("/v1/situations?status=open", headers=mus).status_code == 422
    assert client.get("/v1/situations", headers=token("admin")).status_code == 200
    assert client.get("/v1/situations", headers=token("coordinator", leads=[EPS_13])).status_code == 403
    page = client.get("/v1/situations?limit=2", headers=mus).json()
    rest = client.get(f"/v1/situations?limit=2&cursor={page['next_cursor']}", headers=mus).json()
    assert {i["id"] for i in page["items"] + rest["items"]} == {fam, adult, in_14} and rest["next_cursor"] is None
