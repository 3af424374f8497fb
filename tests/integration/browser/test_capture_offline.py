"""The capture app with no network (Chromium's offline mode, a real service worker and IndexedDB): the page
comes back from the phone, signals wait there, and once the network returns each arrives exactly once, even
when an answer is lost on the way and the phone sends the same signal again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from services.core.signals.words import SAFETY_CALLS
from tests.integration.browser.test_capture import routed_signals_of, signals_of, signed_in_outreach
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in
from tests.support.waiting import pipeline_state, wait_for

pytestmark = pytest.mark.usefixtures("worker")

SHELL_KEPT = """caches.keys()
  .then(names => Promise.all(names.map(name => caches.open(name).then(cache => cache.match('/signaler')))))
  .then(found => found.some(Boolean))"""


def fill(page: Page, arrondissement: str, adults: int, children: int) -> None:
    page.get_by_label("ou arrondissement").select_option(arrondissement)
    page.get_by_role("spinbutton", name="Adultes", exact=True).fill(str(adults))
    page.get_by_role("spinbutton", name="Enfants", exact=True).fill(str(children))


def test_offline_signals_wait_on_the_phone_and_each_arrives_once(live_server: str, new_page: NewPage) -> None:
    page, person = signed_in_outreach(new_page, live_server)
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_for(lambda: page.evaluate(SHELL_KEPT), what="la mise en cache de /signaler")
    context = page.context

    context.set_offline(True)
    page.reload()  # no network: the page comes from the service worker
    expect(page.get_by_role("button", name="Envoyer le signalement")).to_be_visible()
    offline = page.locator("#hors-ligne")
    expect(offline).to_be_visible()
    expect(offline).to_contain_text("L'orientation suivra")
    for call in SAFETY_CALLS:  # the numbers that need no server
        expect(offline.get_by_role("link", name=call.words)).to_have_attribute("href", f"tel:{call.number}")

    fill(page, "13", 2, 2)
    page.get_by_role("button", name="Envoyer le signalement").click()
    waiting = page.locator("#en-attente-liste li")
    expect(waiting).to_have_count(1)
    expect(waiting.first).to_contain_text("en attente d'envoi")
    fill(page, "19", 1, 0)
    page.get_by_role("button", name="Envoyer le signalement").dblclick()  # a double tap is one signal
    expect(waiting).to_have_count(2)
    expect(page.locator("#etat-envoi")).to_contain_text("il partira dès le retour du réseau")
    assert_page_quality(page)
    screenshot(page, "signaler-hors-ligne")

    page.reload()  # still offline: the signals are still on the phone
    expect(waiting).to_have_count(2)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # a try with no network changes nothing
    expect(waiting).to_have_count(2)
    assert signals_of(person) == 0

    # The network is back, but the first answer is lost on its way: the server has the signal, the phone does
    # not know it and sends it again with the same key.
    lost: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        if route.request.method == "POST" and not lost:
            lost.append(route.request.headers.get("idempotency-key", ""))
            route.fetch()  # reaches the server
            route.abort("connectionreset")
        else:
            route.continue_()

    context.route("**/signaler", lose_the_first_answer)
    context.set_offline(False)

    # (Playwright answers the route only while the test is inside one of its calls: hence the short waits.)
    def sent_once() -> bool:
        page.wait_for_timeout(50)
        return signals_of(person) >= 1

    wait_for(sent_once, what="le premier envoi")
    page.reload()  # the page sends what is still waiting as it opens
    expect(waiting).to_have_count(0, timeout=20_000)
    wait_for(
        lambda: len(routed_signals_of(person)) == 2, what="le routage des deux signalements", explain=pipeline_state
    )
    assert len(lost) == 1 and lost[0]
    assert signals_of(person) == 2  # exactly two: no double across retries and reloads

    page.goto(f"{live_server}/mes-signalements")
    items = page.locator("li.sent-item")
    expect(items).to_have_count(2)
    expect(page.locator("main")).to_contain_text("(Paris 13e)")
    expect(page.locator("main")).to_contain_text("(Paris 19e)")
    screenshot(page, "mes-signalements-apres-reseau")


KEPT_PAGE = """caches.keys()
  .then(names => Promise.all(names.map(name => caches.open(name).then(cache => cache.match('/signaler')))))
  .then(found => { const page = found.find(Boolean); return page ? page.text() : ''; })"""


def test_a_shared_phone_keeps_each_person_s_signals_to_that_person(live_server: str, new_page: NewPage) -> None:
    page, first = signed_in_outreach(new_page, live_server)
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_for(lambda: first.username in page.evaluate(KEPT_PAGE), what="la mise en cache de /signaler")
    # The answers never reach the phone (a network that drops them): the signal waits.
    page.context.route(
        "**/signaler", lambda route: route.abort() if route.request.method == "POST" else route.continue_()
    )
    fill(page, "13", 1, 0)
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#en-attente-liste li")).to_have_count(1)

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
    assert first.username not in page.evaluate(KEPT_PAGE)  # the kept page with the name is gone

    page.context.unroute("**/signaler")
    second = make_user("outreach")
    sign_in(page, live_server, second.username, second.password)
    expect(page.get_by_role("button", name="Envoyer le signalement")).to_be_visible()
    page.reload()
    page.wait_for_timeout(1000)  # the round that sends what waits has run
    expect(page.locator("#en-attente")).to_be_hidden()  # not this person's signal
    assert signals_of(first) == 0 and signals_of(second) == 0
