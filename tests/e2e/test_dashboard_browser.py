"""The dashboard in a real headless Chromium (Debian package `chromium`), served by a real uvicorn on 127.0.0.1:
it renders without errors and shows the API's figures."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from services.api.app import create_app
from services.core.access.tokens import create_token
from services.core.db import get_engine, session_scope
from services.core.procedures import seed_book
from services.core.territory import default_map
from services.demo.driver import Driver
from services.demo.places import grid_points
from tests.integration.conftest import TABLES
from tests.integration.test_dashboard import expected_cells, page_cells
from tests.support.waiting import wait_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BearerFromBrowser:
    """Stands in for the sign-in session to come (issue 5): adds the bearer token a browser cannot send by
    itself to each request, which then goes through the real app and its real authentication."""

    def __init__(self, app: Any, secret: str) -> None:
        self.app, self.header = app, f"Bearer {secret}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            scope = {**scope, "headers": [*headers, (b"authorization", self.header)]}
        await self.app(scope, receive, send)


@pytest.fixture
def secret() -> str:
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    start = datetime.fromisoformat("2026-01-05T09:00:00+01:00")
    places = iter([p for n in (13, 11, 19) for p in grid_points(default_map(), n)])
    with session_scope() as session:
        d = Driver(session, seed_book(), default_map())
        for n in range(24):
            when = start + timedelta(days=6 * n, minutes=37 * n)
            people = {"adults": 1 + n % 2, "children": n % 3}
            _, situation = d.signal(
                when, source=("maraude", "riverain", "mairie")[n % 3], people=people, point=next(places)
            )
            assert situation is not None
            d.acknowledge(situation, when + timedelta(minutes=5 + 7 * n))
            if n % 4:
                d.resolve(situation, when + timedelta(hours=3 + n), ("sheltered", "oriented", "refused")[n % 3])
        made = create_token(session, role="coordinator", leads=["mus"], territory_map=default_map())
        session.commit()
    return made


@pytest.fixture
def server(secret: str) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(BearerFromBrowser(create_app(), secret), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    wait_for(lambda: instance.started, timeout=20, what="le démarrage d'uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=20)


def test_dashboard_renders_in_chromium_with_the_api_figures(server: str, secret: str) -> None:
    assert CHROMIUM is not None, "chromium introuvable : apt-get install chromium (voir .ci/run)"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                f"{server}/dashboards/2026-S1",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    dom = done.stdout.decode("utf-8")
    errors = [line for line in done.stderr.decode().splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert errors == []  # no script error, nothing refused by the content security policy
    assert '<html lang="fr">' in dom and "Tableau de bord semestriel" in dom
    cells = page_cells(dom)
    assert cells.tags.count("path") == 20  # the map: the 20 arrondissements
    headers = {"Authorization": f"Bearer {secret}"}
    for semester, code in (("current", "2026-S1"), ("previous", "2025-S2")):
        figures = httpx.get(f"{server}/v1/stats/semesters/{code}", headers=headers).json()
        expected = expected_cells(figures)
        shown = {figure: value for (figure, which), (value, _) in cells.cells.items() if which == semester}
        assert len(shown) > 40
        assert all(value == expected[figure] for figure, value in shown.items())
    assert cells.cells[("signals_received", "current")] == ("24", "24")
    assert cells.cells[("situations_resolved", "current")][1] == "18"
