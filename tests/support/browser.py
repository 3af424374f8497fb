"""Browser-test fixtures for the web pages (workspace and outreach app alike): a real uvicorn serving
`create_app()` on 127.0.0.1, Debian's Chromium driven by Playwright (no browser download), axe-core.

Use from a conftest: `from tests.support.browser import *  # noqa: F403` (fixtures and helpers)."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Request, Response, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from services.api.app import create_app
from services.core.access.users import create_user
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.territory import default_map
from tests.support.stack import free_port
from tests.support.waiting import wait_for

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOCAL_HOSTS = frozenset({"127.0.0.1"})
WEIGHED_TYPES = frozenset({"document", "stylesheet", "script"})
PAGE_BUDGET_BYTES = 150 * 1024


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """The real app in a real uvicorn, in a thread: its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-pages", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="le démarrage d'uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Traffic:
    """What a page asked for: every URL, and the bytes of its HTML, CSS and JS."""

    urls: list[str] = field(default_factory=list)
    weight: int = 0


_TRAFFIC: dict[int, Traffic] = {}


def _watch(page: Page) -> None:
    traffic = _TRAFFIC.setdefault(id(page), Traffic())

    def on_request(request: Request) -> None:
        traffic.urls.append(request.url)

    def on_response(response: Response) -> None:
        if response.request.resource_type in WEIGHED_TYPES and response.status < 300:
            # A page gone before its answer was read has no body left to weigh.
            with contextlib.suppress(PlaywrightError):
                traffic.weight += len(response.body())

    page.on("request", on_request)
    page.on("response", on_response)


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """`new_page(390)` → a page in its own context (own cookies) that width wide, its traffic watched."""
    contexts = []

    def make(width: int = 1280, height: int = 900, **options: Any) -> Page:
        # `options`: more of Playwright's context options (`java_script_enabled=False`, `permissions=[…]`).
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR", **options)
        contexts.append(context)
        page = context.new_page()
        _watch(page)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, base_url: str, username: str, password: str, *, next_path: str | None = None) -> None:
    page.goto(f"{base_url}/connexion" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def make_user(role: str, leads: list[str] | None = None, *, username: str | None = None) -> Credentials:
    """A new person (the real `services.core.access.users`), its credentials."""
    name = username or f"{role}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    with session_scope() as session:
        create_user(
            session,
            username=name,
            password=password,
            role=role,
            leads=leads or [],
            territory_map=default_map(),
            now=utc_now(),
        )
        session.commit()
    return Credentials(name, password)


def assert_accessible(page: Page) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    described = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}" for v in bad]
    assert not bad, f"violations axe sur {page.url} :\n" + "\n".join(described)


def assert_no_outside_requests(page: Page) -> None:
    urls = _TRAFFIC.get(id(page), Traffic()).urls
    outside = [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname not in LOCAL_HOSTS
    ]
    assert not outside, f"requêtes hors du site : {outside}"


def page_weight(page: Page) -> int:
    """Bytes of HTML, CSS and JavaScript the page loaded so far."""
    return _TRAFFIC.get(id(page), Traffic()).weight


def assert_page_quality(page: Page) -> None:
    """What every page keeps: accessible, nothing from elsewhere, under budget, no horizontal scroll."""
    assert_accessible(page)
    assert_no_outside_requests(page)
    weight = page_weight(page)
    assert 0 < weight < PAGE_BUDGET_BYTES, f"{page.url} pèse {weight} octets"
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{page.url} défile horizontalement : {scroll} > {inner}"


def screenshot(page: Page, name: str) -> Path:
    """`test-artifacts/screenshots/{name}-{width}.png`, the whole page, for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    path = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


__all__ = [
    "CHROMIUM",
    "Credentials",
    "NewPage",
    "assert_accessible",
    "assert_no_outside_requests",
    "assert_page_quality",
    "browser",
    "live_server",
    "make_user",
    "new_page",
    "page_weight",
    "screenshot",
    "sign_in",
]
