"""`/health` tells the truth: 200 only while the relay, the workers of each queue and the scheduler beat; 503
naming the one that has gone silent (contract 1.1)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.core.heartbeats import COMPONENTS, Heartbeat, last_beats, record_beat
from services.workers.celery_app import celery_app
from services.workers.heartbeat import BeatingScheduler
from tests.support.stack import free_port
from tests.support.waiting import wait_for


def test_the_scheduler_never_sleeps_past_a_beat_interval(tmp_path: Path) -> None:
    scheduler = BeatingScheduler(app=celery_app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    try:
        assert scheduler.tick() <= 1.0  # 1 s in the tests; its schedule's entries are hours apart
    finally:
        scheduler.close()


def test_health_is_503_until_everything_beats_and_names_what_is_silent(
    client: TestClient, worker: None, broker_url: str, request: pytest.FixtureRequest
) -> None:
    # The broker was just emptied and no scheduler runs in the integration tests: it has never been heard from.
    first = client.get("/health")
    body = first.json()
    assert set(body["checks"]) == {"api", "database", "broker", *COMPONENTS}
    assert first.status_code == 503 and body["checks"]["scheduler"] == "silent"
    assert "scheduler" in body["detail"] and body["last_beat_seconds_ago"]["scheduler"] is None

    request.getfixturevalue("everything_beats")
    healthy = wait_for(
        lambda: answer if (answer := client.get("/health")).status_code == 200 else None,
        timeout=15,
        what="/health 200 (relais et worker dans des threads, planificateur)",
    )
    checks = healthy.json()["checks"]
    assert all(checks[name] == "ok" for name in COMPONENTS), checks
    assert checks["workers.routing"] == checks["workers.notifications"] == checks["workers.maintenance"] == "ok"

    # The scheduler last beat a minute ago: silent for more than 30 s, named, 503; the others stay ok.
    record_beat(redis.Redis.from_url(broker_url), ["scheduler"], time.time() - 60)
    silent = client.get("/health")
    assert silent.status_code == 503
    assert silent.json()["checks"]["scheduler"] == "silent"
    assert silent.json()["checks"]["relay"] == "ok"
    assert "scheduler" in silent.json()["detail"] and "30 s" in silent.json()["detail"]
    assert silent.json()["last_beat_seconds_ago"]["scheduler"] >= 60


def test_a_heartbeat_is_throttled_and_never_raises(broker_url: str) -> None:
    client = redis.Redis.from_url(broker_url)
    heartbeat = Heartbeat(broker_url, ["relay"], every=60)
    heartbeat.beat()
    first = last_beats(client)["relay"]
    assert first is not None and abs(time.time() - first) < 5
    heartbeat.beat()  # within the interval: nothing written
    assert last_beats(client)["relay"] == first
    heartbeat.beat(force=True)
    assert (last_beats(client)["relay"] or 0) > first
    heartbeat.close()

    # A broker out of reach: the relay or the worker beating must carry on (/health reports the outage).
    Heartbeat(f"redis://127.0.0.1:{free_port()}/0", ["relay"], every=1).beat()
