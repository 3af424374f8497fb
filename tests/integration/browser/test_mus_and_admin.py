"""The MUS (escalations in its queue, the weather plan, the map) and the admins (tokens, people) in a real
browser, each change checked through the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.integration.conftest import TokenFactory, family_13
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in


def test_the_mus_sees_escalations_and_sets_the_weather_plan(
    live_server: str, new_page: NewPage, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    sector_13 = token("coordinator", leads=["eps:paris-13"])
    answer = httpx.post(f"{live_server}/v1/signals", json=family_13(), headers=sector_13)
    signal = wait_routed(answer.json()["id"])
    mus = make_user("coordinator", ["mus"])
    page = new_page(1280)
    sign_in(page, live_server, mus.username, mus.password)
    assert page.url.endswith("/file/mus")
    expect(page.locator("#live-status")).to_contain_text("en direct")
    row = page.locator(f"#s-{signal.situation_id}")
    expect(row).to_have_count(0)  # the sector's own situation, not escalated
    escalated = httpx.post(
        f"{live_server}/v1/situations/{signal.situation_id}/escalate",
        json={"reason": "besoin d'aide"},
        headers=sector_13,
    )
    assert escalated.status_code == 200
    expect(row).to_contain_text("niveau 1")  # arrives live in the MUS queue
    assert_page_quality(page)
    screenshot(page, "file-mus")

    page.get_by_role("link", name="Plan météo").click()
    expect(page.get_by_text("Aucun plan météo en vigueur.")).to_be_visible()
    page.get_by_role("radio", name=re.compile("Grand froid")).check()
    page.get_by_label("Niveau", exact=True).fill("2")
    page.get_by_role("button", name="Déclencher le plan météo").click()
    expect(page.get_by_role("status")).to_have_text("Plan météo déclenché.")
    plan = httpx.get(f"{live_server}/v1/weather-plan", headers=sector_13).json()
    assert (plan["kind"], plan["level"]) == ("grand_froid", 2)
    assert mus.username in plan["set_by"]
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "meteo")
    page.get_by_label("Niveau", exact=True).fill("4")  # grand froid stops at 3: said beside the field, nothing changes
    page.get_by_role("button", name="Déclencher le plan météo").click()
    expect(page.locator(".field-error")).to_contain_text("niveau de 1 à 3")
    assert httpx.get(f"{live_server}/v1/weather-plan", headers=sector_13).json()["level"] == 2
    page.get_by_role("button", name="Lever le plan météo").click()
    expect(page.get_by_role("status")).to_have_text("Plan météo levé.")
    assert httpx.get(f"{live_server}/v1/weather-plan", headers=sector_13).json()["kind"] is None

    page.goto(f"{live_server}/carte/mus")
    expect(page.get_by_role("link", name="Paris 13e")).to_be_visible()
    queue = httpx.get(f"{live_server}/v1/queues/mus", headers=token("coordinator", leads=["mus"])).json()["items"]
    assert queue
    # One dot per open situation (the legend's keys aside).
    expect(page.locator("svg[aria-labelledby^='carte-titre'] circle.pin")).to_have_count(len(queue))
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "carte")


def test_a_sector_coordinator_may_not_set_the_weather_plan(live_server: str, new_page: NewPage) -> None:
    person = make_user("coordinator", ["eps:paris-13"])
    page = new_page(390)
    sign_in(page, live_server, person.username, person.password)
    answer = page.goto(f"{live_server}/meteo")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")


def test_an_admin_creates_and_revokes_a_token(live_server: str, new_page: NewPage) -> None:
    admin = make_user("admin")
    page = new_page(1280)
    sign_in(page, live_server, admin.username, admin.password)
    assert page.url.endswith("/admin")
    page.get_by_label("Nom du jeton").fill("tablette maraude 13")
    page.get_by_label("Rôle").first.select_option("outreach")
    page.get_by_role("button", name="Créer le jeton").click()
    secret = page.locator("#nouveau-jeton").inner_text().strip()
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{live_server}/v1/weather-plan", headers=headers).status_code == 200
    page.goto(f"{live_server}/admin")  # the secret is never shown again
    expect(page.locator("#nouveau-jeton")).to_have_count(0)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert_page_quality(page)
        screenshot(page, "admin")
    page.get_by_role("button", name="Révoquer le jeton tablette maraude 13").click()
    expect(page.get_by_role("status")).to_have_text("Jeton révoqué.")
    assert httpx.get(f"{live_server}/v1/weather-plan", headers=headers).status_code == 401

    page.get_by_label("Identifiant").fill("camille")
    page.get_by_label("Mot de passe (au moins 12 caractères)").fill("un mot de passe solide")
    page.locator("#user-role").select_option("coordinator")
    page.get_by_label("Pilotes (coordinateurs, séparés par des virgules)").fill("eps:paris-13")
    page.get_by_role("button", name="Créer la personne").click()
    expect(page.get_by_role("status")).to_have_text("Personne créée : elle peut se connecter.")
    other = new_page(390)
    sign_in(other, live_server, "camille", "un mot de passe solide")
    assert other.url.endswith("/file/eps:paris-13")
    page.get_by_role("button", name="Désactiver camille").click()
    expect(page.get_by_role("status")).to_contain_text("Personne désactivée")
    other.reload()
    assert "/connexion" in other.url
