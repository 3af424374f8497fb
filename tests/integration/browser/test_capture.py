"""The outreach capture app in a real browser (Debian's Chromium, a real uvicorn, the real relay and worker):
the form and its labels, geolocation granted and refused, the directives as numbers to call, validation next to
the field, the form without JavaScript, and the loop back in `/mes-signalements`."""

from __future__ import annotations

import pytest
from playwright.sync_api import Geolocation, Page, expect
from sqlmodel import col, func, select

from services.api.web.capture import RULE_LOCATION
from services.core.db import session_scope
from services.core.fiches.vocabulary import FLAG_LABELS
from services.core.models import Signal, User
from services.core.signals.words import DIRECTIVE_CALLS
from tests.support.browser import (
    PAGE_BUDGET_BYTES,
    Credentials,
    NewPage,
    assert_no_outside_requests,
    assert_page_quality,
    make_user,
    page_weight,
    screenshot,
    sign_in,
)
from tests.support.waiting import pipeline_state, wait_for

# Where the 13th arrondissement's EPS works (a point inside its polygon).
PARIS_13: Geolocation = {"latitude": 48.831, "longitude": 2.3555, "accuracy": 20}

pytestmark = pytest.mark.usefixtures("worker")


def user_id(person: Credentials) -> str:
    with session_scope() as session:
        user = session.exec(select(User).where(col(User.username) == person.username)).one()
        return user.id


def signals_of(person: Credentials) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).where(col(Signal.submitted_by) == user_id(person))).one())


def routed_signals_of(person: Credentials) -> list[Signal]:
    with session_scope() as session:
        rows = session.exec(select(Signal).where(col(Signal.submitted_by) == user_id(person))).all()
        return [row for row in rows if row.status != "received"]


def signed_in_outreach(new_page: NewPage, live_server: str, width: int = 390) -> tuple[Page, Credentials]:
    person = make_user("outreach")
    page = new_page(width)
    sign_in(page, live_server, person.username, person.password)
    return page, person


def add(page: Page, label: str, times: int) -> None:
    for _ in range(times):
        page.get_by_role("button", name=f"{label} : ajouter", exact=False).click()


def test_an_outreach_person_lands_on_the_form_with_the_contract_s_labels(live_server: str, new_page: NewPage) -> None:
    for width in (1280, 390, 320):
        page, _ = signed_in_outreach(new_page, live_server, width)
        assert page.url == f"{live_server}/signaler"
        expect(page.get_by_role("button", name="Utiliser ma position")).to_be_visible()
        for label in ("Adultes", "Enfants", "Mineurs non accompagnés"):
            expect(page.get_by_role("spinbutton", name=label, exact=True)).to_have_value("0")
            expect(page.get_by_role("button", name=f"{label} : ajouter", exact=False)).to_be_visible()
            expect(page.get_by_role("button", name=f"{label} : retirer", exact=False)).to_be_visible()
        for label in FLAG_LABELS.values():  # the vocabulary's words, not the codes
            expect(page.get_by_role("checkbox", name=label, exact=True)).to_be_attached()
        expect(page.get_by_role("button", name="Envoyer le signalement")).to_be_visible()
        expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
        assert_page_quality(page)
        screenshot(page, "signaler")


def test_with_the_position_a_family_gets_call_115_and_sees_where_it_went(live_server: str, new_page: NewPage) -> None:
    page, person = signed_in_outreach(new_page, live_server)
    page.context.grant_permissions(["geolocation"], origin=live_server)
    page.context.set_geolocation(PARIS_13)
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.locator("#etat-position")).to_contain_text("± 20 m")
    add(page, "Adultes", 2)
    add(page, "Enfants", 3)
    add(page, "Enfants", 1)
    page.get_by_role("button", name="Enfants : retirer", exact=False).click()
    expect(page.get_by_role("spinbutton", name="Enfants", exact=True)).to_have_value("3")
    page.get_by_label("Lieu précis").fill("sous l'auvent de la station")
    page.get_by_role("button", name="Envoyer le signalement").click()

    call = page.get_by_role("link", name="Appelez le 115")
    expect(call).to_be_visible()
    assert call.get_attribute("href") == "tel:115"
    expect(page.get_by_role("heading", name="reçu", exact=False)).to_be_focused()
    assert_page_quality(page)
    screenshot(page, "signaler-reponse")

    signal = wait_for(
        lambda: next(iter(routed_signals_of(person)), None), what="le routage du signalement", explain=pipeline_state
    )
    assert signal.lat == pytest.approx(48.831) and signal.people["children"] == 3
    assert signal.sector == "paris-13"
    page.get_by_role("link", name="Mes signalements").first.click()
    item = page.locator("li.sent-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("EPS Paris 13e")
    expect(item).to_contain_text("Pas encore")
    assert_page_quality(page)


def test_refused_position_falls_back_to_the_postcode(live_server: str, new_page: NewPage) -> None:
    page, person = signed_in_outreach(new_page, live_server)
    page.context.clear_permissions()  # headless Chromium answers « denied » to a page without the permission
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.locator("#etat-position")).to_contain_text("Position refusée")
    expect(page.get_by_label("Code postal")).to_be_focused()
    page.get_by_label("Code postal").fill("75019")
    add(page, "Adultes", 1)
    page.get_by_role("checkbox", name=FLAG_LABELS["child_in_danger"]).check()
    add(page, "Enfants", 1)
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.get_by_role("link", name="Appelez le 119")).to_have_attribute("href", "tel:119")
    expect(page.get_by_role("link", name="Appelez le 115")).to_be_visible()  # a family, too
    signal = wait_for(
        lambda: next(iter(routed_signals_of(person)), None), what="le routage du signalement", explain=pipeline_state
    )
    assert signal.postcode == "75019" and signal.lat is None and signal.sector == "paris-19"


def test_an_imprecise_position_asks_for_the_postcode(live_server: str, new_page: NewPage) -> None:
    page, _ = signed_in_outreach(new_page, live_server)
    page.context.grant_permissions(["geolocation"], origin=live_server)
    page.context.set_geolocation({**PARIS_13, "accuracy": 1500})
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.locator("#etat-position")).to_contain_text("imprécise (± 1500 m)")
    expect(page.get_by_label("Code postal")).to_be_focused()
    assert page.locator("input[name=lat]").input_value() == ""


def test_the_api_s_rules_answer_next_to_the_field(live_server: str, new_page: NewPage) -> None:
    page, person = signed_in_outreach(new_page, live_server)
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#erreur-location")).to_have_text(RULE_LOCATION)
    expect(page.locator("#erreur-people")).to_contain_text("au moins une personne")
    # The server's own rules (the API's schema): too many people, a postcode that is not one.
    page.get_by_label("Code postal").fill("7501")
    page.get_by_role("spinbutton", name="Adultes", exact=True).fill("501")
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#erreur-adults")).to_have_text("doit être ≤ 500")
    expect(page.locator("#erreur-postcode")).to_contain_text("5 chiffres")
    expect(page.get_by_role("spinbutton", name="Adultes", exact=True)).to_have_attribute("aria-invalid", "true")
    assert_page_quality(page)
    screenshot(page, "signaler-erreurs")
    assert signals_of(person) == 0


def test_without_javascript_the_form_posts_and_a_second_press_is_the_same_signal(
    live_server: str, new_page: NewPage
) -> None:
    person = make_user("outreach")
    page = new_page(390, java_script_enabled=False)
    sign_in(page, live_server, person.username, person.password)
    expect(page.get_by_role("button", name="Utiliser ma position")).to_be_hidden()
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#erreur-location")).to_be_visible()  # the server's answer, on the page
    page.get_by_label("ou arrondissement").select_option("13")
    page.get_by_role("spinbutton", name="Enfants", exact=True).fill("1")
    page.get_by_role("checkbox", name=FLAG_LABELS["child_in_danger"]).check()
    sent: dict[str, str | float | bool] = {
        "csrf_token": page.locator("#signalement input[name=csrf_token]").input_value(),
        "idempotency_key": page.locator("input[name=idempotency_key]").input_value(),
        "arrondissement": "13",
        "children": "1",
        "flags": "child_in_danger",
    }
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.get_by_role("link", name="Appelez le 119")).to_be_visible()
    assert signals_of(person) == 1
    # The same form posted again (a double tap, a resent page): its key, made with the page, says it is the same.
    again = page.request.post(f"{live_server}/signaler", form=sent)
    assert again.status == 200 and "Appelez le 119" in again.text()
    assert signals_of(person) == 1
    assert page.locator("input[name=idempotency_key]").input_value() != sent["idempotency_key"]  # a new form
    # (axe needs scripts: the page's accessibility is checked with them, in the other tests.)
    assert_no_outside_requests(page)
    assert 0 < page_weight(page) < PAGE_BUDGET_BYTES
    screenshot(page, "signaler-sans-js")


def test_my_signals_show_only_mine_newest_first(live_server: str, new_page: NewPage) -> None:
    page, person = signed_in_outreach(new_page, live_server, 1280)
    other_page, other = signed_in_outreach(new_page, live_server)
    for arrondissement, adults in (("5", 1), ("13", 2)):
        page.get_by_label("ou arrondissement").select_option(arrondissement)
        page.get_by_role("spinbutton", name="Adultes", exact=True).fill(str(adults))
        page.get_by_role("button", name="Envoyer le signalement").click()
        expect(page.get_by_role("heading", name="reçu", exact=False)).to_be_visible()
    other_page.get_by_label("ou arrondissement").select_option("19")
    other_page.get_by_role("spinbutton", name="Adultes", exact=True).fill("4")
    other_page.get_by_role("button", name="Envoyer le signalement").click()
    expect(other_page.get_by_role("heading", name="reçu", exact=False)).to_be_visible()
    wait_for(
        lambda: len(routed_signals_of(person)) == 2 and routed_signals_of(other),
        what="le routage",
        explain=pipeline_state,
    )

    page.goto(f"{live_server}/mes-signalements")
    items = page.locator("li.sent-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("2 adultes")  # newest first
    expect(items.nth(0)).to_contain_text("CAVS Sud (Paris 13e)")  # the general procedure: the CAVS of the zone
    expect(items.nth(1)).to_contain_text("1 adulte")
    expect(items.nth(1)).to_contain_text("CAVS Sud (Paris 5e)")
    expect(page.locator("main")).not_to_contain_text("4 adultes")
    assert_page_quality(page)
    screenshot(page, "mes-signalements")


def test_the_app_is_installable(live_server: str, new_page: NewPage) -> None:
    page, _ = signed_in_outreach(new_page, live_server)
    manifest = page.request.get(f"{live_server}/manifest.webmanifest")
    assert manifest.ok and manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["lang"] == "fr" and data["start_url"] == "/signaler" and data["display"] == "standalone"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        assert page.request.get(f"{live_server}{icon['src']}").ok, icon["src"]
    worker = page.request.get(f"{live_server}/sw.js")
    assert worker.ok and worker.headers["service-worker-allowed"] == "/"
    assert "__VERSION__" not in worker.text() and "urgence-signaler-" in worker.text()
    registered = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert registered == f"{live_server}/"


def test_every_directive_has_its_number() -> None:
    for code, call in DIRECTIVE_CALLS.items():
        assert code == f"call_{call.number}" and call.words == f"Appelez le {call.number}"
