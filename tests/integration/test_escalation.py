"""Deadlines and escalation: the scan with an injected clock (no sleeping), its locking and batching, its
indexes, and the scheduled task in the real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.core.db import session_scope
from services.core.outbox import SCAN_DEADLINES
from services.core.settings import get_settings
from services.core.situations.actions import lock_situations
from services.core.situations.deadlines import ScanResult, scan_deadlines
from services.workers.celery_app import celery_app
from services.workers.tasks import scan_deadlines_task
from tests.integration.conftest import TokenFactory
from tests.integration.test_workflow_helpers import (
    BASE,
    WaitRouted,
    configure,
    deliveries,
    events_of,
    family,
    north_of,
    route_one,
    set_due,
    single_adult,
    situation_row,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


def scan(now: datetime, limit: int = 200) -> ScanResult:
    with session_scope() as session:
        result = scan_deadlines(session, now=now, limit=limit)
        session.commit()
        return result


def counts(result: ScanResult) -> tuple[int, int, int]:
    return result.ack_overdue, result.resolve_overdue, result.contact_overdue


def test_each_deadline_is_found_when_it_passes_and_only_once(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    configure(client, token("admin"), "mus", email="mus@example.org")
    situation_id = route_one(client, outreach, wait_routed, family())  # FR01: PT1H, PT4H, P1D
    opened = situation_row(situation_id)
    assert counts(scan(opened.ack_due - timedelta(seconds=1))) == (0, 0, 0)

    assert counts(scan(opened.ack_due + timedelta(seconds=1))) == (1, 0, 0)
    assert counts(scan(opened.ack_due + timedelta(minutes=5))) == (0, 0, 0)
    assert counts(scan(opened.contact_due + timedelta(seconds=1))) == (0, 0, 1)
    assert counts(scan(opened.resolve_due + timedelta(seconds=1))) == (0, 1, 0)
    assert counts(scan(opened.resolve_due + timedelta(days=30))) == (0, 0, 0)

    situation = situation_row(situation_id)
    assert situation.escalation_level == 2
    assert situation.escalation_reasons == ["ack_overdue", "resolve_overdue"]
    assert situation.contact_overdue_at == opened.contact_due + timedelta(seconds=1)
    escalated = events_of(situation_id, "escalated")
    assert [(e.data["reason"], e.data["level"], e.actor) for e in escalated] == [
        ("ack_overdue", 1, "system"),
        ("resolve_overdue", 2, "system"),
    ]
    assert [e.data["contact_due"] for e in events_of(situation_id, "contact_overdue")] == [
        opened.contact_due.isoformat().replace("+00:00", "Z")
    ]
    # Each escalation alerts the MUS, with the reason code and no personal data.
    alerts = deliveries(situation_id=situation_id, kind="escalated")
    assert [(d.structure_code, d.payload["details"]["reason"]) for d in alerts] == [
        ("mus", "ack_overdue"),
        ("mus", "resolve_overdue"),
    ]
    # Statistics can tell each deadline was missed from the timestamps alone.
    assert situation.acknowledged_at is None and situation.first_contact_at is None
    assert events_of(situation_id, "opened")[0].data["deadlines"]["ack"] is not None


def test_met_deadlines_and_closed_situations_are_never_escalated(
    client: TestClient, token: TokenFactory, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    mus = token("coordinator", leads=["mus"])
    acknowledged = route_one(client, outreach, wait_routed, family())
    contacted = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600)))
    resolved = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 1200)))
    merged = route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 1800)))
    for situation_id, action, body in [
        (acknowledged, "acknowledge", None),
        (contacted, "contacts", {"result": "met"}),
        (resolved, "resolve", {"outcome": "already_supported"}),
        (merged, "merge", {"into": contacted}),
    ]:
        answer = client.post(f"/v1/situations/{situation_id}/{action}", json=body, headers=mus)
        assert answer.status_code == 200, answer.text

    result = scan(datetime.now(UTC) + timedelta(days=365))

    # acknowledged: resolve + contact; contacted (acknowledged by its contact): resolve only.
    assert counts(result) == (0, 2, 1)
    assert situation_row(acknowledged).escalation_reasons == ["resolve_overdue"]
    assert situation_row(contacted).escalation_reasons == ["resolve_overdue"]
    assert situation_row(contacted).contact_overdue_at is None
    for closed in (resolved, merged):
        row = situation_row(closed)
        assert row.escalation_level == 0 and row.contact_overdue_at is None


def test_a_situation_being_changed_is_skipped_and_found_by_the_next_scan(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    later = datetime.now(UTC) + timedelta(hours=2)
    with session_scope() as coordinator:
        lock_situations(coordinator, [situation_id])  # a coordinator's action in flight
        assert counts(scan(later)) == (0, 0, 0)  # SKIP LOCKED: the scan does not wait for it
        coordinator.rollback()
    assert counts(scan(later)) == (1, 0, 0)


def test_batches_work_through_a_backlog_each_once(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    ids = {
        route_one(client, outreach, wait_routed, single_adult(north_of(BASE, 600 * n)))
        for n in range(5)  # far apart: five situations
    }
    assert len(ids) == 5
    later = datetime.now(UTC) + timedelta(days=2)  # FR00: ack P1D
    first = scan(later, limit=2)
    assert first.ack_overdue == 2 and first.full
    assert scan(later, limit=2).ack_overdue == 2
    last = scan(later, limit=2)
    assert last.ack_overdue == 1 and not last.full
    assert scan(later, limit=2).ack_overdue == 0
    assert all(situation_row(i).escalation_reasons == ["ack_overdue"] for i in ids)


@pytest.mark.parametrize(
    ("column", "index"),
    [
        ("ack_due", "ix_situations_ack_pending"),
        ("contact_due", "ix_situations_contact_pending"),
        ("resolve_due", "ix_situations_resolve_pending"),
    ],
)
def test_scan_queries_use_their_partial_index(column: str, index: str) -> None:
    from services.core.models.situations import ACK_PENDING, CONTACT_PENDING, RESOLVE_PENDING

    pending = {"ack_due": ACK_PENDING, "contact_due": CONTACT_PENDING, "resolve_due": RESOLVE_PENDING}[column]
    with session_scope() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = session.execute(
            text(f"EXPLAIN SELECT id FROM situations WHERE {pending} AND {column} < now() ORDER BY {column} LIMIT 200")
        ).scalars()
        assert index in "\n".join(plan)


def test_the_scheduled_scan_runs_in_the_worker_and_is_in_the_beat_schedule(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    set_due(situation_id, ack=datetime.now(UTC) - timedelta(minutes=1))

    scan_deadlines_task.delay()

    wait_for(lambda: events_of(situation_id, "escalated"), what="l'escalade par la tâche planifiée")
    assert situation_row(situation_id).escalation_reasons == ["ack_overdue"]
    schedule = celery_app.conf.beat_schedule["scan-deadlines"]
    assert schedule["task"] == SCAN_DEADLINES
    assert schedule["schedule"] == timedelta(seconds=get_settings().deadline_scan_seconds)
    assert celery_app.conf.task_routes[SCAN_DEADLINES] == {"queue": "maintenance"}
