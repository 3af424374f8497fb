"""Integration fixtures: an emptied database, the API in process, a real Celery worker in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.api.app import create_app
from services.core.access.tokens import create_token
from services.core.db import get_engine, session_scope
from services.core.heartbeats import last_beats
from services.core.models import Signal
from services.core.territory import default_map
from services.workers.celery_app import celery_app
from services.workers.heartbeat import BeatingScheduler
from services.workers.relay import Relay
from tests.support.waiting import wait_for

TABLES = (
    "users",
    "web_sessions",
    "audit_log",
    "api_tokens",
    "signals",
    "idempotency_keys",
    "outbox",
    "dead_letters",
    "situations",
    "events",
    "weather_plan",
    "structures",
    "deliveries",
    "stats_daily",
    "stats_monthly",
    "stats_today",
    "fiche_publications",
    "fiche_drafts",
)


@pytest.fixture(autouse=True)
def empty_database(broker_url: str) -> None:
    # The session's relay and worker threads read these tables in their own order (the fiches in force first):
    # a TRUNCATE meeting one of their transactions may be chosen as a deadlock's victim. It is only retried.
    for attempt in range(5):
        try:
            with get_engine().begin() as connection:
                connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            break
        except DBAPIError as err:
            if not isinstance(err.orig, psycopg.errors.DeadlockDetected) or attempt == 4:
                raise
    redis.Redis.from_url(broker_url).flushdb()


@pytest.fixture(scope="session")
def worker() -> Iterator[None]:
    """The outbox relay and a real worker consuming the real broker, each in a thread (not eager mode)."""
    relay = Relay()
    relaying = threading.Thread(target=relay.run, name="relais", daemon=True)
    relaying.start()
    try:
        with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        relay.stop()
        relaying.join(10)


@pytest.fixture
def everything_beats(worker: None, broker_url: str, tmp_path: Path) -> None:
    """/health is 200 only while the relay, the workers of each queue and the scheduler beat: the relay and the
    worker beat from their threads, the scheduler at one tick of the real class `urgence beat` runs."""
    scheduler = BeatingScheduler(app=celery_app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    try:
        scheduler.tick()
    finally:
        scheduler.close()
    beats = redis.Redis.from_url(broker_url)
    wait_for(lambda: all(last_beats(beats).values()), timeout=15, what="les battements du relais et du worker")


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def token() -> TokenFactory:
    """`token("coordinator", leads=["eps:paris-13"])` → Authorization headers for a new token."""

    def make(role: str, leads: list[str] | None = None, name: str | None = None) -> dict[str, str]:
        with session_scope() as session:
            secret = create_token(session, role=role, leads=leads or [], territory_map=default_map(), name=name)
            session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


def routed(signal_id: str) -> Signal | None:
    with session_scope() as session:
        signal = session.get(Signal, signal_id)
        return signal if signal is not None and signal.status != "received" else None


@pytest.fixture
def wait_routed() -> Callable[[str], Signal]:
    def wait(signal_id: str) -> Signal:
        return wait_for(lambda: routed(signal_id), what=f"le routage de {signal_id}")

    return wait


def family_13(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": {"lat": 48.831, "lon": 2.3555},
        "source": "maraude",
        "people": {"adults": 2, "children": 3, "unaccompanied_minors": 0, "adult_genders": ["female", "male"]},
        "flags": [],
        "description": "Famille avec trois enfants",
    }
    body.update(changes)
    return body
