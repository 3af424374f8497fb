"""One situation, several signals: the join rule at its boundaries, through intake and the real worker."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.core.situations.joining import distance_metres
from tests.integration.conftest import TokenFactory
from tests.integration.test_workflow_helpers import (
    BASE,
    WaitRouted,
    configure,
    deliveries,
    events_of,
    family,
    hours_ago,
    north_of,
    route_one,
    single_adult,
    situation_row,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


@pytest.mark.parametrize(("metres", "joins"), [(149, True), (151, False)])
def test_distance_boundary(
    metres: float, joins: bool, client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    other = north_of(BASE, metres)
    assert round(distance_metres(BASE["lat"], BASE["lon"], other["lat"], other["lon"]), 6) == metres
    first = route_one(client, outreach, wait_routed, single_adult())
    second = route_one(client, outreach, wait_routed, single_adult(other))
    assert (second == first) is joins
    assert situation_row(first).signal_count == (2 if joins else 1)


@pytest.mark.parametrize(("hours", "joins"), [(71, True), (73, False)])
def test_time_window_boundary(
    hours: float, joins: bool, client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    first = route_one(client, outreach, wait_routed, single_adult(observed_at=hours_ago(hours)))
    second = route_one(client, outreach, wait_routed, single_adult())
    assert (second == first) is joins


def test_a_late_report_of_an_earlier_sighting_joins_within_the_window(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    first = route_one(client, outreach, wait_routed, single_adult())
    latest = situation_row(first).last_observed_at
    # Observed 71 h before the situation's latest signal, reported now: "before or after" both count.
    second = route_one(client, outreach, wait_routed, single_adult(observed_at=hours_ago(71)))
    assert second == first
    # …and the situation's latest sighting stays the most recent one.
    assert situation_row(first).last_observed_at == latest


@pytest.mark.parametrize(
    ("first_body", "second_body"),
    [
        (family(), single_adult()),
        (single_adult(), family()),
        (single_adult(), single_adult(people={"adults": 1, "unaccompanied_minors": 1})),
    ],
    ids=["family-then-adult", "adult-then-family", "adult-then-with-minor"],
)
def test_households_of_different_kinds_never_join(
    first_body: dict[str, Any],
    second_body: dict[str, Any],
    client: TestClient,
    outreach: dict[str, str],
    wait_routed: WaitRouted,
) -> None:
    first = route_one(client, outreach, wait_routed, first_body)
    second = route_one(client, outreach, wait_routed, second_body)
    assert second != first


def test_without_coordinates_the_same_primary_fiche_is_needed(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    first = route_one(client, outreach, wait_routed, single_adult())  # FR00, coordinates
    same = route_one(client, outreach, wait_routed, single_adult({"postcode": "75013"}))  # FR00, no coordinates
    assert same == first
    other = route_one(
        client, outreach, wait_routed, single_adult({"postcode": "75013"}, flags=["drug_use"])
    )  # FR13: another fiche, no coordinates to tell
    assert other != first


def test_other_sector_never_joins(client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted) -> None:
    first = route_one(client, outreach, wait_routed, single_adult({"postcode": "75013"}))
    second = route_one(client, outreach, wait_routed, single_adult({"postcode": "75014"}))
    assert second != first


def test_join_requalifies_and_alerts_the_new_lead(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    admin = token("admin")
    configure(client, admin, "eps:paris-13", email="eps-13@example.org")
    configure(client, admin, "cavs:sud", email="cavs-sud@example.org")
    first = route_one(client, outreach, wait_routed, single_adult())
    opened = situation_row(first)
    assert (opened.primary_fiche, opened.lead) == ("FR00", "cavs:sud")

    second = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 20), flags=["pregnant"]))

    assert second == first
    joined = situation_row(first)
    assert (joined.primary_fiche, joined.lead) == ("FR02", "eps:paris-13")
    # Only tighter: FR02's hour to acknowledge, counted from the second signal's reception.
    assert joined.ack_due < opened.ack_due
    assert "pmi" in joined.decision["partners"] and "siao-115" in joined.decision["partners"]
    requalified = events_of(first, "requalified")
    assert len(requalified) == 1 and requalified[0].data["cause"] == "signal_joined"
    assert requalified[0].data["from"] == {"primary_fiche": "FR00", "lead": "cavs:sud"}
    alerts = [(d.kind, d.structure_code) for d in deliveries(situation_id=first)]
    assert alerts == [("opened", "cavs:sud"), ("requalified", "eps:paris-13")]


def test_third_signal_escalates_once_and_a_fourth_does_not_again(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    configure(client, token("admin"), "mus", email="mus@example.org")
    mus = token("coordinator", leads=["mus"])
    situation_id = route_one(client, outreach, wait_routed, single_adult())
    assert route_one(client, outreach, wait_routed, single_adult()) == situation_id
    assert situation_row(situation_id).escalation_level == 0
    assert client.get("/v1/queues/mus", headers=mus).json()["items"] == []

    assert route_one(client, outreach, wait_routed, single_adult()) == situation_id
    third = situation_row(situation_id)
    assert (third.signal_count, third.escalation_level, third.escalation_reasons) == (3, 1, ["repeated_signals"])
    assert [i["id"] for i in client.get("/v1/queues/mus", headers=mus).json()["items"]] == [situation_id]

    assert route_one(client, outreach, wait_routed, single_adult()) == situation_id
    fourth = situation_row(situation_id)
    assert (fourth.signal_count, fourth.escalation_level) == (4, 1)
    assert len(events_of(situation_id, "escalated")) == 1
    escalations = wait_for(lambda: deliveries(situation_id=situation_id, kind="escalated"), what="l'alerte MUS")
    assert [(d.structure_code, d.channel) for d in escalations] == [("mus", "email")]
