"""Dead letters are handled by people: listed, replayed through the outbox by an admin (the API) or an operator
(the CLI), kept and marked replayed, never replayed twice, audited. Real worker and relay throughout."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from services.cli import app as cli
from services.core.clock import utc_now
from services.core.db import get_engine, session_scope
from services.core.deadletters import AlreadyReplayed, console_principal, replay
from services.core.outbox import DELIVER_ALERT, ROUTE_SIGNAL, SCAN_DEADLINES, dead_letter
from services.workers.tasks import scan_deadlines_task
from tests.integration.conftest import TokenFactory
from tests.integration.test_workflow_helpers import (
    FAST_ALERTS,
    WaitRouted,
    configure,
    deliveries,
    family,
    route_one,
    running_receiver,
    set_due,
    settings_env,
    situation_row,
)
from tests.support.waiting import broker_idle, wait_for

pytestmark = pytest.mark.usefixtures("worker")
EPS_13 = "eps:paris-13"
TRAP = "piège à routage"  # the place of the signal whose routing a trigger refuses


@pytest.fixture(autouse=True)
def nothing_left_in_flight() -> Iterator[None]:
    yield
    wait_for(broker_idle, timeout=30, what="la fin des messages en cours")


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


@pytest.fixture
def admin(token: TokenFactory) -> dict[str, str]:
    return token("admin", name="admin")


def sql(statement: str, **values: Any) -> list[Any]:
    with get_engine().begin() as connection:
        result = connection.execute(text(statement), values)
        return list(result) if result.returns_rows else []


def letters(task: str) -> list[Any]:
    return sql("SELECT * FROM dead_letters WHERE task = :task ORDER BY id", task=task)


@pytest.fixture
def routing_refused() -> Iterator[None]:
    """Routing the trapped signal fails (a trigger refuses its leaving `received`); flagging it still works."""
    sql(
        "CREATE FUNCTION refuse_routing() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'routage refusé'; END $$"
    )
    sql(
        "CREATE TRIGGER refuse_routing BEFORE UPDATE ON signals FOR EACH ROW "
        f"WHEN (OLD.place = '{TRAP}' AND NEW.status <> 'received') EXECUTE FUNCTION refuse_routing()"
    )
    try:
        yield
    finally:
        drop_routing_trap()


def drop_routing_trap() -> None:
    sql("DROP TRIGGER IF EXISTS refuse_routing ON signals")
    sql("DROP FUNCTION IF EXISTS refuse_routing()")


def all_situations() -> list[Any]:
    return sql("SELECT id, signal_count FROM situations")


@pytest.mark.usefixtures("routing_refused")
def test_a_signal_whose_routing_died_is_replayed_and_routed_exactly_once(
    client: TestClient, token: TokenFactory, admin: dict[str, str], outreach: dict[str, str], monkeypatch: Any
) -> None:
    with settings_env(monkeypatch, task_max_retries=1):
        answer = client.post("/v1/signals", json=family(place=TRAP), headers=outreach)
        assert answer.status_code == 202, answer.text
        signal_id = answer.json()["id"]
        (letter,) = wait_for(lambda: letters(ROUTE_SIGNAL), what="la lettre morte du routage refusé")
    assert "routage refusé" in letter.error and letter.replayed_at is None
    (signal,) = sql("SELECT status, routing_error FROM signals WHERE id = :id", id=signal_id)
    assert signal.status == "received" and "routage refusé" in signal.routing_error
    drop_routing_trap()  # what made it fail is fixed

    assert (
        client.post(f"/v1/dead-letters/{letter.id}/replay", headers=token("coordinator", leads=["mus"])).status_code
        == 403
    )
    replayed = client.post(f"/v1/dead-letters/{letter.id}/replay", headers=admin)

    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["id"] == letter.id and body["replayed_by"] == "admin:admin" and body["replayed_at"]
    assert body["replay_outbox_id"] not in (None, letter.outbox_id)
    routed = wait_for(
        lambda: [s for s in sql("SELECT * FROM signals WHERE id = :id", id=signal_id) if s.status != "received"],
        what="le routage après la reprise",
    )
    assert routed[0].status == "routed" and routed[0].routing_error is None
    again = client.post(f"/v1/dead-letters/{letter.id}/replay", headers=admin)
    assert again.status_code == 409 and "déjà rejouée" in again.json()["detail"]
    assert "admin:admin" in again.json()["detail"]

    wait_for(broker_idle, timeout=30, what="la fin des messages")
    (situation,) = all_situations()  # routed once: one situation (the only signal's), holding it once
    assert situation.signal_count == 1 and situation.id == routed[0].situation_id
    assert len(sql("SELECT 1 FROM events WHERE situation_id = :id AND type = 'opened'", id=situation.id)) == 1
    (row,) = sql("SELECT done_at FROM outbox WHERE id = :id", id=body["replay_outbox_id"])
    assert row.done_at is not None
    assert len(letters(ROUTE_SIGNAL)) == 1  # kept, not deleted, and not died again
    audited = sql("SELECT actor, signal_id, detail FROM audit_log WHERE action = 'dead_letter.replay'")
    assert [(a.actor, a.signal_id, a.detail["dead_letter_id"]) for a in audited] == [
        ("admin:admin", signal_id, letter.id)
    ]
    listed = client.get("/v1/dead-letters?replayed=false", headers=admin).json()
    assert listed == {"items": [], "next_cursor": None}
    (shown,) = client.get("/v1/dead-letters", headers=admin).json()["items"]
    assert shown["replayed_at"] == body["replayed_at"] and shown["replay_outbox_id"] == body["replay_outbox_id"]


def test_an_alert_dead_letter_replayed_against_a_receiver_now_up_is_delivered_once(
    client: TestClient, admin: dict[str, str], outreach: dict[str, str], wait_routed: WaitRouted, monkeypatch: Any
) -> None:
    up: list[bool] = []
    with (
        settings_env(monkeypatch, **(FAST_ALERTS | {"alert_max_retries": 1})),
        running_receiver(lambda n: 200 if up else 503) as receiver,
    ):
        configure(client, admin, EPS_13, url=receiver.url())
        route_one(client, outreach, wait_routed, family())
        (letter,) = wait_for(lambda: letters(DELIVER_ALERT), what="la lettre morte de l'alerte")
        (failed,) = deliveries(structure_code=EPS_13)
        assert failed.status == "failed" and len(receiver.received) == 2
        up.append(True)  # the receiver is back

        replayed = client.post(f"/v1/dead-letters/{letter.id}/replay", headers=admin)
        assert replayed.status_code == 200, replayed.text
        wait_for(lambda: [d for d in deliveries(structure_code=EPS_13) if d.status == "delivered"], what="la remise")
        wait_for(broker_idle, timeout=30, what="la fin des messages")
        statuses = [request.status for request in receiver.received]

    assert statuses == [503, 503, 200]  # delivered once
    (delivery,) = deliveries(structure_code=EPS_13)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 3, None)
    assert delivery.outbox_id == replayed.json()["replay_outbox_id"]
    assert len(letters(DELIVER_ALERT)) == 1
    assert client.post("/v1/dead-letters/999999/replay", headers=admin).status_code == 404


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["deadletters", *args])


def test_the_command_line_lists_and_replays_one_then_all_and_never_twice(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    set_aside = route_one(client, outreach, wait_routed, family())
    sql("UPDATE situations SET scan_error = 'ack: DataError' WHERE id = :id", id=set_aside)
    routed_signal = sql("SELECT id FROM signals").pop().id
    with session_scope() as session:  # what the scan, a routing give-up and a message without an id leave
        for task, payload in (
            (SCAN_DEADLINES, {"situation_id": set_aside, "deadline": "ack"}),
            (ROUTE_SIGNAL, {"signal_id": routed_signal}),
            (ROUTE_SIGNAL, {"signal": "sans identifiant"}),
        ):
            dead_letter(
                session, task=task, payload=payload, error="DataError: illisible", now=utc_now(), outbox_id=None
            )
        session.commit()
    scan_id, signal_letter_id, nameless_id = (row.id for row in sql("SELECT id FROM dead_letters ORDER BY id"))

    listed = invoke("list")
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("en attente") == 3 and f"situation_id={set_aside}" in listed.output

    one = invoke("replay", str(scan_id))
    assert one.exit_code == 0, one.output
    assert f"lettre {scan_id} rejouée" in one.output and "prochain balayage" in one.output
    assert situation_row(set_aside).scan_error is None
    twice = invoke("replay", str(scan_id))
    assert twice.exit_code == 1 and "déjà rejouée" in twice.output
    assert "introuvable" in invoke("replay", "999999").output
    assert invoke("replay").exit_code == 2  # an id, or --all

    every = invoke("replay", "--all")
    assert every.exit_code == 1, every.output  # one could not be replayed: said, and the others went on
    assert f"lettre {signal_letter_id} rejouée" in every.output and f"lettre {nameless_id} :" in every.output
    assert "1 lettre(s) rejouée(s), 1 refusée(s)" in every.output
    waiting = invoke("list", "--waiting")
    assert (
        waiting.exit_code == 0 and waiting.output.startswith(f"{nameless_id} ") and "sans identifiant" in waiting.output
    )
    rows = {row.id: row for row in sql("SELECT * FROM dead_letters")}
    assert rows[signal_letter_id].replayed_by.startswith("admin:console ")
    assert rows[scan_id].replay_outbox_id is None and rows[nameless_id].replayed_at is None
    assert len(sql("SELECT 1 FROM audit_log WHERE action = 'dead_letter.replay'")) == 2

    # The situation is back in the scan: its passed deadline is escalated at the next pass.
    set_due(set_aside, ack=datetime.now(UTC) - timedelta(minutes=1))
    scan_deadlines_task.delay()
    wait_for(lambda: situation_row(set_aside).escalation_reasons, what="l'escalade de la situation reprise")
    wait_for(broker_idle, timeout=30, what="la fin des messages")
    (replayed_row,) = sql("SELECT done_at FROM outbox WHERE id = :id", id=rows[signal_letter_id].replay_outbox_id)
    assert replayed_row.done_at is not None  # routing an already routed signal: a no-op, its row finished
    assert [(s.id, s.signal_count) for s in all_situations()] == [(set_aside, 1)]  # not placed again


def test_the_list_is_paginated_newest_first(client: TestClient, admin: dict[str, str]) -> None:
    with session_scope() as session:
        for _ in range(3):
            payload = {"signal_id": str(uuid.uuid4())}
            dead_letter(session, task=ROUTE_SIGNAL, payload=payload, error="x", now=utc_now(), outbox_id=None)
        session.commit()
    first = client.get("/v1/dead-letters?limit=2", headers=admin).json()
    assert [item["id"] for item in first["items"]] == [3, 2] and first["next_cursor"] == "2"
    rest = client.get(f"/v1/dead-letters?limit=2&cursor={first['next_cursor']}", headers=admin).json()
    assert [item["id"] for item in rest["items"]] == [1] and rest["next_cursor"] is None
    bad = client.get("/v1/dead-letters?cursor=abc", headers=admin)
    assert bad.status_code == 422 and "cursor" in bad.text


def test_two_replays_at_once_replay_once() -> None:
    signal_id = str(uuid.uuid4())  # gone: its routing, replayed, only finishes its row
    with session_scope() as session:
        payload = {"signal_id": signal_id}
        dead_letter(session, task=ROUTE_SIGNAL, payload=payload, error="x", now=utc_now(), outbox_id=None)
        session.commit()
    (letter_id,) = (row.id for row in sql("SELECT id FROM dead_letters"))
    outcome: list[BaseException | None] = []

    def second() -> None:
        with session_scope() as session:
            try:
                replay(session, letter_id, principal=console_principal("deux"), now=utc_now())
                session.commit()
                outcome.append(None)
            except AlreadyReplayed as err:
                outcome.append(err)

    with session_scope() as first:
        replay(first, letter_id, principal=console_principal("un"), now=utc_now())
        racing = threading.Thread(target=second)
        racing.start()
        wait_for(lambda: sql("SELECT 1 FROM pg_locks WHERE NOT granted"), what="la seconde reprise en attente")
        first.commit()
    racing.join(10)

    assert len(outcome) == 1 and isinstance(outcome[0], AlreadyReplayed) and "console un" in str(outcome[0])
    rows = sql("SELECT 1 FROM outbox WHERE payload ->> 'signal_id' = :id", id=signal_id)
    assert len(rows) == 1
