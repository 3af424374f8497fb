"""`/docs` (Swagger UI) and `/redoc` in a real headless Chromium (Debian's, driven by Playwright), served by a
real uvicorn on 127.0.0.1: both render every operation of the document, with no request leaving the site and
nothing refused by their content security policy."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Request

from services.api.app import create_app
from tests.support.waiting import wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    wait_for(lambda: instance.started, timeout=20, what="le démarrage d'uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=20)


class Watched:
    """A page whose every request is recorded (and any to elsewhere refused at once, not waited for), and whose
    console errors (script errors, content security policy refusals) are collected."""

    def __init__(self, browser: Browser) -> None:
        self.page: Page = browser.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.route("**/*", self._route)

    def _route(self, route: object, request: Request) -> None:
        self.requests.append(request.url)
        if urlsplit(request.url).hostname == "127.0.0.1" or request.url.startswith(("data:", "blob:")):
            route.continue_()  # type: ignore[attr-defined]
        else:
            route.abort()  # type: ignore[attr-defined]

    def outside(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("http://127.0.0.1:", "data:", "blob:"))]

    def faults(self) -> list[str]:
        """Errors other than the policy refusing something from elsewhere (ReDoc's footer links its logo from
        its makers' site: refused before any request is made, which is the policy doing its job)."""
        return [e for e in self.errors if not re.match(r"Loading the \w+ 'https?://(?!127\.0\.0\.1)[^']*' viol", e)]


def _operation_count(server: str, page: Page) -> int:
    document = page.request.get(f"{server}/openapi.json").json()
    return sum(
        1 for item in document["paths"].values() for method in item if method in ("get", "put", "post", "delete")
    )


def test_swagger_ui_renders_every_operation_offline(server: str, browser: Browser) -> None:
    watched = Watched(browser)
    page = watched.page
    expected = _operation_count(server, page)
    page.goto(f"{server}/docs")
    # Waiting with locators: the page's policy forbids the eval that `wait_for_function` needs.
    page.locator(".opblock").nth(expected - 1).wait_for(state="attached", timeout=30_000)
    assert page.locator(".opblock").count() == expected
    assert page.locator(".opblock-summary-description", has_text="Recevoir un signalement").count() == 1
    page.locator("button.authorize").first.click()  # the bearer scheme: a token can be entered
    page.locator(".auth-container input").first.wait_for(timeout=10_000)
    assert any(url.endswith("/openapi.json") for url in watched.requests)
    assert watched.outside() == []
    assert watched.faults() == []
    page.close()


def test_redoc_renders_every_operation_offline(server: str, browser: Browser) -> None:
    watched = Watched(browser)
    page = watched.page
    expected = _operation_count(server, page)
    page.goto(f"{server}/redoc")
    operations = page.locator('[data-section-id^="operation/"]')
    operations.nth(expected - 1).wait_for(state="attached", timeout=30_000)
    assert operations.count() == expected
    assert page.get_by_text("Lire le journal d'audit").count() >= 1
    assert watched.outside() == []
    assert watched.faults() == []
    page.close()
