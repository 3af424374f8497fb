"""`/admin/fiches` in a real browser: the MUS edits a draft as YAML, sees a refused draft's problems, sees the
impact of a valid one on past signals, publishes it (checked through the API and a new decision), reads the
diff in the history and rolls back; a sector coordinator is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.integration.conftest import TokenFactory, family_13
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in


def test_the_mus_drafts_sees_the_impact_publishes_and_rolls_back_a_fiche(
    live_server: str, new_page: NewPage, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    outreach, admin = token("outreach"), token("admin")
    wait_routed(httpx.post(f"{live_server}/v1/signals", json=family_13(), headers=outreach).json()["id"])
    seed = httpx.get(f"{live_server}/v1/fiches", headers=admin).json()
    mus = make_user("coordinator", ["mus"])
    page = new_page(1280)
    sign_in(page, live_server, mus.username, mus.password)
    page.get_by_role("link", name="Fiches réflexes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fiches réflexes")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "fiches")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="FR01 — historique et brouillon").click()

    editor = page.get_by_label("Contenu de la fiche (YAML)")
    original = editor.input_value()
    assert "lead: eps" in original
    editor.fill(original.replace("lead: eps", "lead: personne"))
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.get_by_role("alert")).to_contain_text("lead : type de pilote inconnu")
    assert_page_quality(page)

    changed = original.replace("lead: eps", "lead: mus").replace("ack: PT1H", "ack: PT30M")
    page.get_by_label("Contenu de la fiche (YAML)").fill(changed)
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Brouillon de la fiche FR01")
    impact = page.get_by_role("table")
    expect(impact.get_by_role("row", name="Pilote")).to_contain_text("1")
    expect(impact.get_by_role("row", name="Fiche principale")).to_contain_text("0")
    expect(page.get_by_label("Changements du brouillon")).to_contain_text("ajouté : lead: mus")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "fiche-brouillon")
    assert httpx.get(f"{live_server}/v1/fiches", headers=admin).json()["book"] == seed["book"]

    page.get_by_label("Motif de la publication").fill("les familles passent par la MUS cet hiver")
    page.get_by_role("button", name="Publier le brouillon").click()
    expect(page.get_by_role("status")).to_contain_text("Brouillon publié")
    published = httpx.get(f"{live_server}/v1/fiches", headers=admin).json()
    assert published["book"] != seed["book"]
    later = wait_routed(httpx.post(f"{live_server}/v1/signals", json=family_13(), headers=outreach).json()["id"])
    assert later.decision["lead"] == "mus" and later.decision["fiche_book"] == published["book"]

    page.goto(f"{live_server}/admin/fiches/FR01")
    expect(page.get_by_role("heading", level=3).first).to_contain_text("en vigueur")
    expect(page.get_by_text("les familles passent par la MUS cet hiver")).to_be_visible()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "fiche-historique")
    page.get_by_label("Motif du retour à cette version").fill("retour à la graine")
    page.get_by_role("button", name="Revenir à cette version").click()
    expect(page.get_by_role("status")).to_contain_text("Version remise en vigueur")
    assert httpx.get(f"{live_server}/v1/fiches", headers=admin).json()["book"] == seed["book"]
    actions = [e["action"] for e in httpx.get(f"{live_server}/v1/audit", headers=admin).json()["items"]]
    assert [a for a in actions if a.startswith("fiches.")] == ["fiches.draft", "fiches.publish", "fiches.rollback"]


def test_a_sector_coordinator_may_not_open_the_fiches(live_server: str, new_page: NewPage) -> None:
    person = make_user("coordinator", ["eps:paris-13"])
    page = new_page(390)
    sign_in(page, live_server, person.username, person.password)
    answer = page.goto(f"{live_server}/admin/fiches")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
