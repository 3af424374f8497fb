"""The pages' skeleton in a real browser: home by role, sign-out, French refusal pages, the quality budget."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
from playwright.sync_api import expect

from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in


def test_a_coordinator_lands_on_its_queue_and_signs_out(live_server: str, new_page: NewPage) -> None:
    person = make_user("coordinator", ["eps:paris-13", "cavs:sud"])
    for width in (1280, 390):
        page = new_page(width)
        sign_in(page, live_server, person.username, person.password)
        assert page.url == f"{live_server}/file/{quote('cavs:sud')}" or page.url.endswith("/file/cavs:sud")
        expect(page.get_by_role("heading", level=1)).to_have_text("File CAVS Sud")
        expect(page.get_by_role("link", name="File EPS Paris 13e")).to_be_visible()
        assert_page_quality(page)
        screenshot(page, "file-vide")
        page.get_by_role("button", name="Se déconnecter").click()
        expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
        page.goto(f"{live_server}/file/eps:paris-13")  # the session is over
        assert "/connexion?next=" in page.url


def test_a_page_out_of_scope_is_a_french_refusal_with_a_way_back(live_server: str, new_page: NewPage) -> None:
    person = make_user("coordinator", ["eps:paris-13"])
    page = new_page(390)
    sign_in(page, live_server, person.username, person.password)
    answer = page.goto(f"{live_server}/file/eps:paris-05")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    assert "application/json" not in (answer.headers.get("content-type") or "")
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    assert_page_quality(page)
    screenshot(page, "refus-403")
    page.get_by_role("link", name="Retour à l'accueil").click()
    assert page.url.endswith("/file/eps:paris-13")
    answer = page.goto(f"{live_server}/file/nulle-part")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")


def test_pages_are_keyboard_operable_with_a_visible_focus(live_server: str, new_page: NewPage) -> None:
    person = make_user("coordinator", ["eps:paris-13"])
    page = new_page(390)
    sign_in(page, live_server, person.username, person.password)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    for _ in range(12):  # through the header and the filters to the first control that changes something
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Filtrer":
            break
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    width = page.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Filtrer"
    assert outline != "none" and width >= 2
    page.keyboard.press("Enter")  # the filter form submits from the keyboard
    page.wait_for_url(re.compile(r"statut=&fiche=&secteur="))


def test_home_sends_each_role_to_its_page(live_server: str, new_page: NewPage) -> None:
    expected = {
        ("coordinator", ("mus", "eps:paris-13")): "/file/mus",
        ("coordinator", ("eps:paris-13",)): "/file/eps:paris-13",
        ("analyst", ()): "/dashboards/",
        ("admin", ()): "/admin",
        ("outreach", ()): "/signaler",
    }
    for (role, leads), target in expected.items():
        person = make_user(role, list(leads))
        page = new_page(1280)
        sign_in(page, live_server, person.username, person.password)
        assert target in page.url, (role, page.url)
        if role == "analyst":  # the dashboard, an older page, signs out too
            page.get_by_role("button", name="Se déconnecter").click()
            expect(page.get_by_role("button", name="Se connecter")).to_be_visible()


def test_not_signed_in_pages_send_to_the_sign_in_page(live_server: str) -> None:
    answer = httpx.get(f"{live_server}/file/mus", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?next=%2Ffile%2Fmus"
    css = httpx.get(f"{live_server}/static/site.css")
    assert css.status_code == 200 and "max-age" in css.headers["cache-control"]
