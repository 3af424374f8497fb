"""Dead letters on `/admin`, in a real browser: two signals whose routing really died (a trigger refuses it, the
real worker gives up), listed with their work, item and reason; one replayed with its button, then all; the API
shows them replayed by the person who pressed, both signals routed, each replay audited. CSRF on the forms."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.integration.conftest import TokenFactory
from tests.integration.test_dead_letters import TRAP, drop_routing_trap, letters, routing_refused, sql  # noqa: F401
from tests.integration.test_workflow_helpers import family, settings_env
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in
from tests.support.waiting import broker_idle, wait_for

ROUTE_SIGNAL = "urgence.route_signal"


@pytest.fixture
def two_dead_letters(live_server: str, token: TokenFactory, monkeypatch: Any) -> list[Any]:
    """The routing of two signals died (each of them its own dead letter); then what made it fail is fixed."""
    outreach = token("outreach")
    with settings_env(monkeypatch, task_max_retries=1):
        for lon in (2.3555, 2.3655):  # far apart: each its own situation once routed
            body = family({"lat": 48.831, "lon": lon}, place=TRAP)
            assert httpx.post(f"{live_server}/v1/signals", json=body, headers=outreach).status_code == 202
        wait_for(lambda: len(letters(ROUTE_SIGNAL)) == 2, what="deux lettres mortes")
    drop_routing_trap()
    wait_for(broker_idle, timeout=30, what="la fin des essais")
    return letters(ROUTE_SIGNAL)


@pytest.mark.usefixtures("worker", "routing_refused")
def test_an_admin_replays_dead_letters_from_the_page(
    two_dead_letters: list[Any], live_server: str, new_page: NewPage, token: TokenFactory
) -> None:
    first, second = two_dead_letters
    admin_api = token("admin")
    admin = make_user("admin")
    page = new_page(1280)
    sign_in(page, live_server, admin.username, admin.password)
    section = page.locator("section", has=page.get_by_role("heading", name="Lettres mortes"))
    row = section.locator(f"#lettre-{first.id}")
    expect(row).to_contain_text("Routage d'un signalement")
    expect(row).to_contain_text(f"signalement {first.payload['signal_id']}")
    expect(row).to_contain_text("routage refusé")
    expect(row).to_contain_text("à rejouer")
    expect(section).to_contain_text("2 à rejouer")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "admin-lettres-mortes")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A form posted without the session's CSRF token changes nothing.
    forged = page.request.post(f"{live_server}/admin/lettres-mortes/rejouer", form={"csrf_token": "faux"})
    assert forged.status == 403
    assert letters(ROUTE_SIGNAL)[0].replayed_at is None

    page.get_by_role("button", name=f"Rejouer la lettre morte n° {first.id}").click()
    expect(page.get_by_role("status")).to_have_text("Lettre morte rejouée : le travail est reparti.")
    expect(section.locator(f"#lettre-{first.id}")).to_contain_text(f"par admin:{admin.username}")
    listed = httpx.get(f"{live_server}/v1/dead-letters", headers=admin_api).json()["items"]
    by_id = {item["id"]: item for item in listed}
    assert by_id[first.id]["replayed_by"] == f"admin:{admin.username}" and by_id[first.id]["replay_outbox_id"]
    assert by_id[second.id]["replayed_at"] is None

    page.get_by_role("button", name="Tout rejouer").click()
    expect(page.get_by_role("status")).to_contain_text(f"n° {second.id} rejouée")
    expect(page.get_by_role("button", name="Tout rejouer")).to_have_count(0)  # nothing left to replay
    assert_page_quality(page)
    waiting = httpx.get(f"{live_server}/v1/dead-letters?replayed=false", headers=admin_api).json()
    assert waiting == {"items": [], "next_cursor": None}
    again = page.request.post(
        f"{live_server}/admin/lettres-mortes/{first.id}/rejouer",
        form={"csrf_token": page.locator("input[name=csrf_token]").first.input_value()},
    )
    assert again.status == 409 and "déjà rejouée" in again.text()

    signal_ids = [letter.payload["signal_id"] for letter in (first, second)]
    wait_for(
        lambda: all(row.status == "routed" for row in sql("SELECT status FROM signals")),
        what="le routage des deux signalements rejoués",
    )
    audited = sql("SELECT actor, signal_id FROM audit_log WHERE action = 'dead_letter.replay' ORDER BY id")
    assert [(a.actor, a.signal_id) for a in audited] == [(f"admin:{admin.username}", s) for s in signal_ids]
