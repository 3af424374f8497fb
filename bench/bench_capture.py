"""The capture app on a slow mobile network: how long the first « Envoyer le signalement » takes to show its
directives, in a real Chromium throttled to DevTools' « Slow 3G » profile (CDP Network.emulateNetworkConditions).

    uv run python bench/bench_capture.py [--rounds 5]

Against this machine's PostgreSQL: a fresh database, the real API (`urgence api`, one uvicorn process) and a
person signed in as `outreach`. Each round is a new phone (a new browser context, nothing kept): sign in (not
throttled), then, throttled, open `/signaler` (cold: nothing cached), fill in a family and press the button;
the time measured runs from the press to the directives on screen (« Appelez le 115 »). Then the page is opened
again (warm: the service worker's copy) and a second signal sent. Goal: first submit answered in under 3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.stack import free_port, kill_group  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SERVER = os.environ.get("URGENCE_BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
# Only `/health` asks the broker here; never db 0 (the suite flushes the db it is given).
BROKER = os.environ.get("URGENCE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")
# Chrome DevTools' « Slow 3G » preset: 400 ms × 5 of latency, 500 kbit/s × 0.8 each way.
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
NO_THROTTLING = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
GOAL_SECONDS = 3.0


def fresh_database() -> str:
    name = f"urgence_bench_capture_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    name = fresh_database()
    database_url = f"{SERVER}/{name}"
    os.environ.update(URGENCE_DATABASE_URL=database_url, URGENCE_BROKER_URL=BROKER)
    from services.core.access.users import create_user
    from services.core.clock import utc_now
    from services.core.db import session_scope
    from services.core.migrations import upgrade_to_head
    from services.core.territory import default_map

    upgrade_to_head(database_url)
    password = "banc-d-essai-maraude"
    with session_scope() as session:
        create_user(
            session,
            username="maraude",
            password=password,
            role="outreach",
            leads=[],
            territory_map=default_map(),
            now=utc_now(),
        )
        session.commit()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="bench-capture-api-", suffix=".log", delete=False)  # noqa: SIM115
    api = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "api", "--port", str(port), "--no-migrate"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _answers(base), timeout=60, what="l'API")
        cold, warm, direct, loads = run_rounds(base, password, args.rounds)
    finally:
        kill_group(api)
        drop_database(name)

    print(f"profil : Slow 3G (latence {SLOW_3G['latency']} ms, {SLOW_3G['downloadThroughput']} o/s dans chaque sens)")
    print(f"chargement à froid de /signaler : médiane {statistics.median(loads):.2f} s (max {max(loads):.2f} s)")
    for label, values in (
        ("premier envoi (à froid)", cold),
        ("envoi, page du service worker", warm),
        ("envoi sans bridage du réseau", direct),
    ):
        print(
            f"{label} : médiane {statistics.median(values):.2f} s, max {max(values):.2f} s "
            f"sur {len(values)} manches ({', '.join(f'{v:.2f}' for v in values)})"
        )
    verdict = "atteint" if max(cold) < GOAL_SECONDS else "NON atteint"
    print(f"objectif : premier envoi < {GOAL_SECONDS:.0f} s — {verdict}")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def run_rounds(base: str, password: str, rounds: int) -> tuple[list[float], list[float], list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    direct: list[float] = []
    loads: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
            page = context.new_page()
            page.goto(f"{base}/connexion?next=/mes-signalements")
            page.get_by_label("Identifiant").fill("maraude")
            page.get_by_label("Mot de passe").fill(password)
            page.get_by_role("button", name="Se connecter").click()
            page.wait_for_url("**/mes-signalements")
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", SLOW_3G)

            started = time.perf_counter()
            page.goto(f"{base}/signaler")
            page.get_by_role("button", name="Envoyer le signalement").wait_for()
            loads.append(time.perf_counter() - started)
            page.wait_for_load_state("networkidle")  # the person fills in the form meanwhile
            cold.append(submit_family(page))
            page.reload()
            page.wait_for_load_state("networkidle")
            warm.append(submit_family(page))
            # The same press without throttling: what the network adds, and what the machine itself takes.
            cdp.send("Network.emulateNetworkConditions", NO_THROTTLING)
            page.reload()
            page.wait_for_load_state("networkidle")
            direct.append(submit_family(page))
            context.close()
        browser.close()
    return cold, warm, direct, loads


def submit_family(page: Page) -> float:
    page.get_by_label("ou arrondissement").select_option("13")
    page.get_by_role("spinbutton", name="Adultes", exact=True).fill("2")
    page.get_by_role("spinbutton", name="Enfants", exact=True).fill("3")
    started = time.perf_counter()
    page.get_by_role("button", name="Envoyer le signalement").click()
    page.get_by_role("link", name="Appelez le 115").first.wait_for(timeout=30_000)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
