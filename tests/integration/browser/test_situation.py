"""A coordinator's day in a real browser: the situation page and every action through its button, checked
against the API afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from services.core.db import session_scope
from services.core.models import AuditEntry
from tests.integration.conftest import TokenFactory, family_13
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in


def _post_signal(base: str, headers: dict[str, str], **changes: Any) -> str:
    answer = httpx.post(f"{base}/v1/signals", json=family_13(**changes), headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _situation(base: str, headers: dict[str, str], situation_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{base}/v1/situations/{situation_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _open(page: Page, base: str, situation_id: str) -> None:
    page.goto(f"{base}/situations/{situation_id}")
    expect(page.get_by_role("heading", name="Actions", exact=True)).to_be_visible()


def test_every_action_through_its_button(
    live_server: str, new_page: NewPage, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    person = make_user("coordinator", ["eps:paris-13"], username="claire")
    api = token("coordinator", leads=["mus"], name="outil-mus")
    signal = wait_routed(_post_signal(live_server, api, place="sous l'auvent", description="Famille, nourrisson"))
    nearby = {"lat": 48.8335, "lon": 2.3585}  # 350 m away, another family: a situation of its own
    people = {"adults": 1, "children": 1, "unaccompanied_minors": 0}
    other = wait_routed(_post_signal(live_server, api, location=nearby, people=people))
    assert signal.situation_id and other.situation_id and signal.situation_id != other.situation_id
    sid = signal.situation_id
    page = new_page(1280)
    sign_in(page, live_server, person.username, person.password)
    _open(page, live_server, sid)
    expect(page.get_by_text("sous l'auvent", exact=True)).to_be_visible()  # the place: this lead may read it
    close_up = page.get_by_role("img", name="Le 13e arrondissement de près")
    expect(close_up.locator("circle.dot")).to_have_count(2)  # the signal's place, and the last place larger
    expect(close_up.locator("path.here")).to_have_count(1)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "situation-nouvelle")

    page.get_by_role("button", name="Prendre en compte").click()
    expect(page.get_by_role("status").filter(has_text="Situation prise en compte.")).to_be_visible()
    expect(page.locator(".timeline li").first).to_contain_text("Prise en compte par claire (coordination)")
    assert _situation(live_server, api, sid)["status"] == "acknowledged"

    # A contact without its result: refused beside the field, in French, nothing recorded.
    page.get_by_label("Note (facultative)").fill("personne absente ?")
    page.locator("form[action$='/contacts']").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Noter un contact").click()
    expect(page.locator(".field-error")).to_have_text("⚠ choisissez une réponse".removeprefix("⚠ "))
    assert [e["type"] for e in _situation(live_server, api, sid)["events"]].count("contact_logged") == 0

    page.get_by_role("radio", name="Rencontrée").check()
    page.get_by_label("Note (facultative)").fill("famille vue, orientée vers l'accueil de jour")
    page.get_by_role("button", name="Noter un contact").click()
    expect(page.locator("#statut")).to_have_text("En cours")

    checklist_item = page.get_by_role("button", name="Cocher").first
    checklist_item.click()
    expect(page.get_by_role("button", name="Décocher").first).to_be_visible()

    page.get_by_label("Motif de l'escalade").fill("famille très vulnérable")
    page.get_by_role("button", name="Escalader vers la MUS").click()
    expect(page.get_by_text("escaladée, niveau 1")).to_be_visible()

    page.get_by_role("checkbox", name="Femme enceinte").check()
    page.get_by_role("button", name="Requalifier").click()
    expect(page.get_by_role("status").filter(has_text="requalifiée")).to_be_visible()

    page.get_by_label("Issue").select_option("sheltered")
    page.get_by_label("Note", exact=True).fill("hébergée par le 115")
    page.get_by_role("button", name="Clore la situation").click()
    expect(page.locator("#statut")).to_have_text("Close")
    screenshot(page, "situation-close")

    page.get_by_label("Motif de la réouverture").fill("la famille est de retour")
    page.get_by_role("button", name="Rouvrir").click()
    expect(page.locator("#statut")).to_have_text("En cours")

    page.get_by_role("radio", name="FR").first.check()
    page.get_by_role("button", name="Fusionner").click()
    expect(page.locator("#statut")).to_have_text("Fusionnée")

    seen = _situation(live_server, api, sid)
    types = [e["type"] for e in seen["events"]]
    for kind in (
        "acknowledged",
        "contact_logged",
        "checklist_ticked",
        "escalated",
        "requalified",
        "resolved",
        "reopened",
        "merged",
    ):
        assert kind in types, (kind, types)
    assert seen["status"] == "merged" and seen["merged_into"] == other.situation_id
    assert "pregnant" in [f for s in seen["signals"] for f in s["flags"]] or "requalified" in types
    actors = {e["actor"] for e in seen["events"] if e["type"] != "opened"}
    assert "coordinator:claire" in actors
    with session_scope() as session:
        from sqlmodel import col, select

        logged = {a.action for a in session.exec(select(AuditEntry).where(col(AuditEntry.situation_id) == sid))}
    assert {
        "situation.read",
        "situation.acknowledge",
        "situation.contacts",
        "situation.checklist",
        "situation.escalate",
        "situation.requalify",
        "situation.resolve",
        "situation.reopen",
        "situation.merge",
    } <= logged


def test_another_sectors_situation_is_a_french_refusal(
    live_server: str, new_page: NewPage, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    api = token("coordinator", leads=["mus"])
    signal = wait_routed(_post_signal(live_server, api))
    person = make_user("coordinator", ["eps:paris-05"])
    page = new_page(390)
    sign_in(page, live_server, person.username, person.password)
    answer = page.goto(f"{live_server}/situations/{signal.situation_id}")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    assert_page_quality(page)
    answer = page.goto(f"{live_server}/situations/inconnue")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
