"""Helpers shared by the workflow, joining, escalation and alert tests (no tests here): signals through the API,
a local webhook receiver, fast alert settings, the directory."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from services.core.db import session_scope
from services.core.models import Delivery, Event, Signal, Situation
from services.core.settings import get_settings
from services.core.situations.joining import EARTH_RADIUS_METRES

BASE = {"lat": 48.831, "lon": 2.3555}  # paris-13 (EPS paris-13, CAVS sud)
WaitRouted = Callable[[str], Signal]


def north_of(point: dict[str, float], metres: float) -> dict[str, float]:
    """A point `metres` due north: along a meridian the haversine distance is exactly R × Δφ."""
    return {"lat": point["lat"] + math.degrees(metres / EARTH_RADIUS_METRES), "lon": point["lon"]}


def single_adult(location: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": location or dict(BASE),
        "source": "maraude",
        "people": {"adults": 1},
        "flags": [],
        "place": "sous le porche du 12 rue imaginaire",
        "description": "Homme seul, semble épuisé",
    }
    body.update(changes)
    return body


def family(location: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body = single_adult(location, description="Famille avec deux enfants", **changes)
    body["people"] = {"adults": 2, "children": 2}
    return body


def submit(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    answer = client.post("/v1/signals", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def route_one(client: TestClient, headers: dict[str, str], wait_routed: WaitRouted, body: dict[str, Any]) -> str:
    """Submit a signal, wait for the real worker to route it; the situation it opened or joined."""
    signal = wait_routed(submit(client, headers, body))
    assert signal.situation_id is not None, signal
    return signal.situation_id


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()


def hours_ago(hours: float) -> str:
    return iso(datetime.now(UTC) - timedelta(hours=hours))


def situation_row(situation_id: str) -> Situation:
    with session_scope() as session:
        situation = session.get(Situation, situation_id)
        assert situation is not None
        return situation


def events_of(situation_id: str, type: str | None = None) -> list[Event]:
    with session_scope() as session:
        statement = select(Event).where(col(Event.situation_id) == situation_id).order_by(col(Event.id))
        if type is not None:
            statement = statement.where(col(Event.type) == type)
        return list(session.exec(statement))


def deliveries(**where: Any) -> list[Delivery]:
    with session_scope() as session:
        statement = select(Delivery).order_by(col(Delivery.created_at), col(Delivery.structure_code))
        for name, value in where.items():
            statement = statement.where(getattr(Delivery, name) == value)
        return list(session.exec(statement))


def set_due(situation_id: str, **dues: datetime) -> None:
    with session_scope() as session:
        situation = session.get(Situation, situation_id)
        assert situation is not None
        for kind, value in dues.items():
            setattr(situation, f"{kind}_due", value)
        session.add(situation)
        session.commit()


# --- Settings ------------------------------------------------------------------------------------------------


@contextmanager
def settings_env(monkeypatch: pytest.MonkeyPatch, **values: Any) -> Iterator[None]:
    """URGENCE_* settings for one test; the in-process worker reads them at its next task."""
    with monkeypatch.context() as patch:
        for name, value in values.items():
            patch.setenv(f"URGENCE_{name.upper()}", str(value))
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()
    get_settings.cache_clear()


FAST_ALERTS = {
    "alert_backoff_base_seconds": 0.1,
    "alert_backoff_max_seconds": 0.4,
    "alert_max_retries": 3,
    "alert_timeout_seconds": 3,
}


# --- A webhook receiver --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def delivery_id(self) -> str:
        return self.headers["x-urgence-delivery-id"]


class Receiver:
    """A tiny HTTP server on 127.0.0.1 (random port) that records every request and answers `status_for(n)` to
    the n-th (0-based); with `hold_first`, the first request gets no answer until `release` is set."""

    def __init__(self, status_for: Callable[[int], int] = lambda n: 200, hold_first: bool = False) -> None:
        self.received: list[Received] = []
        self.answered: list[Received] = []  # the requests whose answer was written out completely
        self.status_for = status_for
        self.hold_first = hold_first
        self.release = threading.Event()
        self.first_arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    index = len(receiver.received)
                    status = receiver.status_for(index)
                    request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    receiver.received.append(request)
                if index == 0 and receiver.hold_first:
                    receiver.first_arrived.set()
                    receiver.release.wait(60)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                except OSError:
                    return  # the sender is gone (killed): this answer never arrived
                with receiver._lock:
                    receiver.answered.append(request)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/alertes") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_receiver(status_for: Callable[[int], int] = lambda n: 200, hold_first: bool = False) -> Iterator[Receiver]:
    server = Receiver(status_for, hold_first)
    try:
        yield server
    finally:
        server.close()


SECRET = "secret-de-test-0123456789"


def configure(
    client: TestClient,
    admin: dict[str, str],
    code: str,
    *,
    url: str | None = None,
    email: str | None = None,
    secret: str = SECRET,
    active: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"Structure {code}", "active": active, "webhook_url": url, "email": email}
    if url is not None:
        body["webhook_secret"] = secret
    answer = client.put(f"/v1/directory/{code}", json=body, headers=admin)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
