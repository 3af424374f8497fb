"""The live queue: a signal posted through the API shows up on an open `/file/{lead}` page without reloading,
changes show in place, and a stream resumed with `Last-Event-ID` gets what changed while it was away."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.integration.conftest import TokenFactory, family_13
from tests.support.browser import NewPage, assert_page_quality, make_user, screenshot, sign_in
from tests.support.stack import REPO_ROOT, free_port, kill_group
from tests.support.waiting import wait_for


def _post(base: str, headers: dict[str, str], **changes: Any) -> str:
    answer = httpx.post(f"{base}/v1/signals", json=family_13(**changes), headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def test_a_signal_posted_through_the_api_appears_live(
    live_server: str, new_page: NewPage, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    person = make_user("coordinator", ["eps:paris-13"])
    api = token("coordinator", leads=["eps:paris-13"], name="outil-13")
    pages = []
    for width in (1280, 390):
        page = new_page(width)
        sign_in(page, live_server, person.username, person.password)
        expect(page.locator("#live-status")).to_contain_text("en direct")
        pages.append(page)
    signal = wait_routed(_post(live_server, api))
    row = f"#s-{signal.situation_id}"
    for page in pages:  # no reload: the row arrives by the stream
        expect(page.locator(row)).to_contain_text("Nouvelle")
        expect(page.locator(row)).to_contain_text("FR01 — Famille avec enfant(s) à la rue")
        expect(page.locator(row)).to_contain_text("reste")
    answer = httpx.post(f"{live_server}/v1/situations/{signal.situation_id}/acknowledge", headers=api)
    assert answer.status_code == 200
    for page in pages:
        expect(page.locator(row)).to_contain_text("Prise en compte")
    pages[0].wait_for_timeout(2100)  # let the arrival highlight fade before the pictures
    for page in pages:
        assert_page_quality(page)
        screenshot(page, "file-en-direct")
    answer = httpx.post(
        f"{live_server}/v1/situations/{signal.situation_id}/resolve", json={"outcome": "sheltered"}, headers=api
    )
    assert answer.status_code == 200
    for page in pages:  # closed: it leaves the queue
        expect(page.locator(row)).to_have_count(0)
        expect(page.get_by_text("Aucune situation ouverte dans cette file.")).to_be_visible()


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith("id: "):
            event["id"] = int(line[4:])
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])


def test_a_stream_resumed_with_last_event_id_misses_nothing(
    live_server: str, worker: None, token: TokenFactory, wait_routed: Callable[[str], Any]
) -> None:
    api = token("coordinator", leads=["eps:paris-13"])
    first = wait_routed(_post(live_server, api))
    with httpx.stream("GET", f"{live_server}/file/eps:paris-13/flux?depuis=0", headers=api, timeout=20) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen = next(_events(stream.iter_lines()))
    assert seen["event"] == "situation" and seen["data"]["id"] == first.situation_id
    last_id = seen["id"]
    # While no stream is open: the situation changes, another one opens.
    assert httpx.post(f"{live_server}/v1/situations/{first.situation_id}/acknowledge", headers=api).status_code == 200
    second = wait_routed(_post(live_server, api, location={"lat": 48.8335, "lon": 2.3585}))
    headers = {**api, "Last-Event-ID": str(last_id)}
    got: dict[str, dict[str, Any]] = {}
    with httpx.stream("GET", f"{live_server}/file/eps:paris-13/flux", headers=headers, timeout=20) as stream:
        for event in _events(stream.iter_lines()):
            got[event["data"]["id"]] = event["data"]
            if len(got) == 2 and got[first.situation_id]["status"] == "acknowledged":
                break
    assert got[first.situation_id]["status"] == "acknowledged"
    assert got[second.situation_id]["in_queue"] is True
    other_sector = token("coordinator", leads=["eps:paris-05"])
    refused = httpx.get(f"{live_server}/file/eps:paris-13/flux", headers=other_sector)
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]


def test_open_streams_do_not_hold_the_api_when_it_stops(tmp_path: Path, token: TokenFactory) -> None:
    """`urgence api` (a real process) stops on SIGTERM even with a queue page open."""
    headers = token("coordinator", leads=["eps:paris-13"])
    port = free_port()
    command = [sys.executable, "-m", "services.cli", "api", "--port", str(port), "--no-migrate"]
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/health"), timeout=120, what="l'API")
        with httpx.stream("GET", f"{base}/file/eps:paris-13/flux", headers=headers, timeout=60) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            api.send_signal(signal.SIGTERM)
            for _ in lines:  # the server ends the stream (the browser would reconnect and resume)
                pass
        # uvicorn stops cleanly, then ends by the signal it caught (its default action): -SIGTERM.
        assert api.wait(timeout=30) in (0, -signal.SIGTERM), (tmp_path / "api.log").read_text()
        assert "Traceback" not in (tmp_path / "api.log").read_text()
    finally:
        kill_group(api)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
