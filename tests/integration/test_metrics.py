"""GET /metrics (contract 1.1) and the correlation id that follows one signal from its request to its task."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.logs import log_handler
from services.core.models import OutboxMessage, Signal
from services.core.outbox import QUEUE_MAINTENANCE, SCAN_DEADLINES, dead_letter
from services.core.settings import Settings
from tests.integration.conftest import TokenFactory, family_13
from tests.support.waiting import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, headers: dict[str, str]) -> Samples:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_an_admin(client: TestClient, token: TokenFactory) -> None:
    assert client.get("/metrics").status_code == 401
    refused = client.get("/metrics", headers=token("coordinator", leads=["eps:paris-13"]))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert client.get("/metrics", headers=token("outreach")).status_code == 403
    assert client.get("/metrics", headers=token("admin")).status_code == 200


@pytest.mark.usefixtures("worker")
def test_every_family_after_signals_are_posted_and_routed(
    client: TestClient, token: TokenFactory, wait_routed: Callable[[str], Signal]
) -> None:
    admin, outreach = token("admin"), token("outreach")
    before = scrape(client, admin)
    ids = [
        client.post("/v1/signals", json=family_13(source=source), headers=outreach).json()["id"]
        for source in ("maraude", "maraude", "police")
    ]
    signals = [wait_routed(signal_id) for signal_id in ids]
    assert client.get(f"/v1/signals/{ids[0]}", headers=admin).status_code == 200
    assert client.get("/v1/nulle-part", headers=admin).status_code == 404
    now = utc_now()
    with session_scope() as session:
        # One situation overdue, one outbox row waiting for two minutes, one dead letter.
        situation_id = signals[0].situation_id
        lead = session.execute(
            text("UPDATE situations SET next_deadline = :past WHERE id = :id RETURNING lead"),
            {"past": now - timedelta(hours=1), "id": situation_id},
        ).scalar_one()
        session.add(
            OutboxMessage(
                task=SCAN_DEADLINES,
                queue=QUEUE_MAINTENANCE,
                payload={},
                created_at=now - timedelta(minutes=2),
                published_at=now,
            )
        )
        dead_letter(session, task=SCAN_DEADLINES, payload={}, error="essai", now=now, outbox_id=None)
        session.commit()
    after = scrape(client, admin)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("urgence_signals_accepted_total", source="maraude") == 2
    assert grew("urgence_signals_accepted_total", source="police") == 1
    # Routes by their template: never the raw path, one label for what no route serves.
    assert grew("urgence_http_requests_total", method="POST", route="/v1/signals", status="202") == 3
    assert grew("urgence_http_requests_total", method="GET", route="/v1/signals/{signal_id}", status="200") == 1
    assert grew("urgence_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert grew("urgence_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert not any(ids[0] in dict(labels).get("route", "") for _, labels in after)

    assert value(after, "urgence_outbox_waiting", queue=QUEUE_MAINTENANCE) == 1
    assert 120 <= value(after, "urgence_outbox_oldest_age_seconds", queue=QUEUE_MAINTENANCE) < 600
    assert ("urgence_outbox_waiting", (("queue", "routing"),)) in after  # present, 0: all three routed, rows done
    assert value(after, "urgence_outbox_waiting", queue="routing") == 0

    count = value(after, "urgence_routing_latency_seconds_bucket", le="+Inf")
    assert count == 3 == value(after, "urgence_routing_latency_seconds_gcount")
    latencies = [(signal.routed_at - signal.received_at).total_seconds() for signal in signals]  # type: ignore[operator]
    assert value(after, "urgence_routing_latency_seconds_gsum") == pytest.approx(sum(latencies), abs=1e-3)
    assert value(after, "urgence_routing_latency_seconds_bucket", le="60") == 3
    bounds = sorted(
        (float(dict(labels)["le"]), sample)
        for (name, labels), sample in after.items()
        if name == "urgence_routing_latency_seconds_bucket"
    )
    assert [n for _, n in bounds] == sorted(n for _, n in bounds)  # cumulative

    open_by_lead = {dict(labels)["lead"]: n for (name, labels), n in after.items() if name == "urgence_situations_open"}
    with session_scope() as session:
        expected = dict(session.execute(text("SELECT lead, count(*) FROM situations GROUP BY lead")).all())
    assert open_by_lead == expected and sum(open_by_lead.values()) >= 1
    assert value(after, "urgence_situations_overdue", lead=lead) == 1
    with session_scope() as session:
        deliveries = dict(session.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status")).all())
    assert {dict(labels)["result"]: n for (name, labels), n in after.items() if name == "urgence_alert_deliveries"} == {
        "pending": 0,
        "delivered": 0,
        "failed": 0,
        **deliveries,
    }
    assert value(after, "urgence_dead_letters") == 1


@pytest.mark.usefixtures("worker")
def test_one_correlation_id_from_the_request_to_the_task(
    client: TestClient, token: TokenFactory, wait_routed: Callable[[str], Signal], caplog: pytest.LogCaptureFixture
) -> None:
    lines = io.StringIO()
    handler = log_handler(Settings(log_format="json"), stream=lines)
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.INFO)
    try:
        answer = client.post(
            "/v1/signals", json=family_13(), headers={**token("outreach"), "X-Request-ID": "essai-1234.abc"}
        )
        assert answer.status_code == 202 and answer.headers["X-Request-ID"] == "essai-1234.abc"
        signal_id = answer.json()["id"]
        wait_routed(signal_id)
        # The task's line is written once its transaction is committed, just after the signal shows routed.
        wait_for(lambda: "route_signal" in lines.getvalue() or None, what="la ligne de journal de la tâche")
    finally:
        root.removeHandler(handler)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    api = [r for r in records if r["logger"] == "services.api.http" and r.get("route") == "/v1/signals"]
    task = [r for r in records if r["logger"] == "services.workers.registry" and "route_signal" in r["message"]]
    assert api and task, records
    assert api[0]["correlation_id"] == task[0]["correlation_id"] == "essai-1234.abc"
    assert api[0]["status"] == 202 and api[0]["level"] == "INFO"
    with session_scope() as session:
        row = session.execute(
            text("SELECT correlation_id FROM outbox WHERE payload->>'signal_id' = :id"), {"id": signal_id}
        ).scalar_one()
    assert row == "essai-1234.abc"


def test_an_insane_request_id_is_replaced(client: TestClient) -> None:
    answer = client.get("/health", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    echoed = answer.headers["X-Request-ID"]
    assert len(echoed) == 32 and int(echoed, 16) >= 0
    assert client.get("/health").headers["X-Request-ID"] != echoed


def test_counts_of_several_processes_are_summed(tmp_path: Path) -> None:
    """Multiprocess mode (what `urgence up` sets up): two API processes count, any one answers with the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from services.api.metrics import count_accepted; count_accepted('maraude')"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=120)
    scrape = (
        "from prometheus_client import generate_latest; from services.api.metrics import scrape_registry; "
        "print(generate_latest(scrape_registry()).decode())"
    )
    text_format = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text_format)
        for s in family.samples
    }
    assert value(samples, "urgence_signals_accepted_total", source="maraude") == 2
    assert value(samples, "urgence_dead_letters") == 0  # the database figures too
