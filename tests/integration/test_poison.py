"""Poison never spreads: a row that cannot be handled (here, dated before year 1, which PostgreSQL stores and
Python cannot read) is isolated after a bounded number of tries — a dead letter, its item flagged — and the
work behind it goes on: the relay keeps publishing, the worker keeps routing, the deadline scan keeps escalating.

The poisoned rows are written with raw SQL, as nothing the API accepts may write them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.core.db import get_engine
from services.core.outbox import DELIVER_ALERT, NOTIFY_CHANNEL, ROUTE_SIGNAL, SCAN_DEADLINES
from services.core.settings import get_settings
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
    single_adult,
    situation_row,
)
from tests.support.waiting import broker_idle, wait_for

pytestmark = pytest.mark.usefixtures("worker")
BEFORE_YEAR_ONE = "0001-01-01 00:00:00+01"  # 1 BC in UTC: stored by PostgreSQL, unreadable by Python
FAST_ROUTING = {"task_max_retries": 2}  # retries after 1 s and 2 s, then the give-up
# Good signals behind a poisoned one are routed within this (the poisoned one's retries take longer).
WITHIN_SECONDS = 10


@pytest.fixture(autouse=True)
def nothing_left_in_flight() -> Iterator[None]:
    """Retries and copies of a poisoned message may outlive the test: the next one starts once they are over."""
    yield
    wait_for(broker_idle, timeout=30, what="la fin des messages en cours")


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


@pytest.fixture
def fast_routing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with settings_env(monkeypatch, **FAST_ROUTING):
        yield


def sql(statement: str, **values: Any) -> list[Any]:
    with get_engine().begin() as connection:
        result = connection.execute(text(statement), values)
        return list(result) if result.returns_rows else []


def enqueue_raw(task: str, queue: str, payload: str, *, publish_count: int = 0, published: str | None = None) -> int:
    (row,) = sql(
        "INSERT INTO outbox (task, queue, payload, created_at, published_at, publish_count) "
        "VALUES (:task, :queue, CAST(:payload AS jsonb), now(), CAST(:published AS timestamptz), :count) "
        "RETURNING id, pg_notify(:channel, '')",
        task=task,
        queue=queue,
        payload=payload,
        published=published,
        count=publish_count,
        channel=NOTIFY_CHANNEL,
    )
    return int(row.id)


def poisoned_signal(column: str = "observed_at") -> str:
    """A signal that would be routed in the 13th, but with `column` dated before year 1."""
    signal_id = str(uuid.uuid4())
    dates = {"received_at": "now()", "observed_at": "now()"} | {column: f"'{BEFORE_YEAR_ONE}'"}
    sql(
        "INSERT INTO signals (id, received_at, observed_at, source, lat, lon, people, flags, status) "
        f"VALUES (:id, {dates['received_at']}, {dates['observed_at']}, 'maraude', 48.831, 2.3555, "
        """'{"adults": 1}', '{}', 'received')""",
        id=signal_id,
    )
    return signal_id


def signal_state(signal_id: str) -> tuple[str, str | None]:
    (row,) = sql("SELECT status, routing_error FROM signals WHERE id = :id", id=signal_id)
    return row.status, row.routing_error


def dead_letters(task: str) -> list[Any]:
    return sql("SELECT payload, error, outbox_id FROM dead_letters WHERE task = :task ORDER BY id", task=task)


def outbox_done(outbox_id: int) -> bool:
    (row,) = sql("SELECT done_at FROM outbox WHERE id = :id", id=outbox_id)
    return row.done_at is not None


def route_good_ones(client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted, count: int) -> None:
    """Signals posted now (far apart, none joins another) are all routed within seconds."""
    for index in range(count):
        body = single_adult({"lat": 48.822 + 0.004 * index, "lon": 2.34})
        answer = client.post("/v1/signals", json=body, headers=outreach)
        assert answer.status_code == 202, answer.text
        signal = wait_for(partial(_routed, answer.json()["id"]), timeout=WITHIN_SECONDS, what="un bon signalement")
        assert signal == "routed"


def _escalation_reasons(situation_id: str) -> list[str]:
    return list(situation_row(situation_id).escalation_reasons)


def _routed(signal_id: str) -> str | None:
    (row,) = sql("SELECT status FROM signals WHERE id = :id", id=signal_id)
    return None if row.status == "received" else str(row.status)


# --- Signals -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_routing")
@pytest.mark.parametrize("column", ["observed_at", "received_at"])
def test_an_unreadable_signal_ends_as_a_flagged_dead_letter_and_the_others_are_routed(
    column: str, client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    poison = poisoned_signal(column)
    outbox_id = enqueue_raw(ROUTE_SIGNAL, "routing", f'{{"signal_id": "{poison}"}}')

    route_good_ones(client, outreach, wait_routed, 3)  # while the poisoned one is being retried

    (letter,) = wait_for(lambda: dead_letters(ROUTE_SIGNAL), what="la lettre morte du signalement empoisonné")
    assert letter.payload == {"signal_id": poison} and letter.outbox_id == outbox_id
    assert "DataError" in letter.error
    status, routing_error = signal_state(poison)
    assert status == "received" and routing_error is not None and "DataError" in routing_error
    assert outbox_done(outbox_id)  # never published again
    route_good_ones(client, outreach, wait_routed, 1)
    assert len(dead_letters(ROUTE_SIGNAL)) == 1  # once, whatever copies of its message were in flight


def test_the_relay_gives_up_on_an_unreadable_signal_published_too_often_and_keeps_publishing(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    poison = poisoned_signal()
    too_often = get_settings().outbox_max_attempts
    long_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    outbox_id = enqueue_raw(
        ROUTE_SIGNAL, "routing", f'{{"signal_id": "{poison}"}}', publish_count=too_often, published=long_ago
    )

    (letter,) = wait_for(lambda: dead_letters(ROUTE_SIGNAL), what="l'abandon par le relais")
    assert letter.payload == {"signal_id": poison} and f"après {too_often} publications" in letter.error
    assert signal_state(poison) == ("received", letter.error)
    assert outbox_done(outbox_id)
    route_good_ones(client, outreach, wait_routed, 3)


@pytest.fixture
def signal_updates_refused() -> Iterator[str]:
    """A signal whose every UPDATE fails (a trigger): even flagging it is impossible."""
    signal_id = poisoned_signal()
    sql(
        "CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'mise à jour refusée'; END $$"
    )
    sql(
        "CREATE TRIGGER refuse_update BEFORE UPDATE ON signals FOR EACH ROW "
        f"WHEN (OLD.id = '{signal_id}') EXECUTE FUNCTION refuse_update()"
    )
    try:
        yield signal_id
    finally:
        sql("DROP TRIGGER refuse_update ON signals")
        sql("DROP FUNCTION refuse_update()")


def test_a_give_up_that_cannot_flag_its_signal_still_writes_the_dead_letter_and_finishes_the_row(
    signal_updates_refused: str, client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    poison = signal_updates_refused
    long_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    outbox_id = enqueue_raw(
        ROUTE_SIGNAL,
        "routing",
        f'{{"signal_id": "{poison}"}}',
        publish_count=get_settings().outbox_max_attempts,
        published=long_ago,
    )

    (letter,) = wait_for(lambda: dead_letters(ROUTE_SIGNAL), what="la lettre morte malgré l'échec du marquage")
    assert "mise à jour refusée" in letter.error and letter.outbox_id == outbox_id
    assert outbox_done(outbox_id)
    assert signal_state(poison) == ("received", None)  # could not be flagged: the dead letter says so
    route_good_ones(client, outreach, wait_routed, 2)


def test_a_message_the_task_cannot_take_is_given_up_by_the_relay_and_the_others_go_on(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A payload the task does not accept: every publication fails in the worker, never finishing the row.
    with settings_env(monkeypatch, outbox_max_attempts=2, outbox_redeliver_seconds=1):
        outbox_id = enqueue_raw(ROUTE_SIGNAL, "routing", '{"signal": "sans identifiant"}')
        route_good_ones(client, outreach, wait_routed, 2)
        (letter,) = wait_for(lambda: dead_letters(ROUTE_SIGNAL), timeout=30, what="l'abandon du message invalide")
    assert letter.payload == {"signal": "sans identifiant"} and outbox_done(outbox_id)
    assert "n'a pas pu être noté" in letter.error  # no signal id to flag: the dead letter alone


# --- Alerts --------------------------------------------------------------------------------------------------


def delivered_to(situation_id: str) -> bool:
    sent = deliveries(situation_id=situation_id)
    return bool(sent) and all(delivery.status == "delivered" for delivery in sent)


def poisoned_delivery(situation_id: str, event_id: int) -> str:
    delivery_id = str(uuid.uuid4())
    sql(
        "INSERT INTO deliveries (id, event_id, situation_id, structure_code, channel, kind, payload, status, "
        "attempts, created_at) VALUES (:id, :event, :situation, 'eps:paris-13', 'email', 'opened', '{}', "
        f"'pending', 0, '{BEFORE_YEAR_ONE}')",
        id=delivery_id,
        event=event_id,
        situation=situation_id,
    )
    return delivery_id


def test_an_unreadable_alert_is_given_up_and_the_other_alerts_are_delivered(
    client: TestClient,
    token: TokenFactory,
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = token("admin")
    with settings_env(monkeypatch, **(FAST_ALERTS | {"alert_max_retries": 1})), running_receiver() as receiver:
        configure(client, admin, "eps:paris-13", url=receiver.url())
        first = route_one(client, outreach, wait_routed, family())
        (event,) = sql("SELECT id FROM events WHERE situation_id = :id", id=first)
        poison = poisoned_delivery(first, int(event.id))
        outbox_id = enqueue_raw(DELIVER_ALERT, "notifications", f'{{"delivery_id": "{poison}"}}')

        second = route_one(client, outreach, wait_routed, family({"lat": 48.8270, "lon": 2.3760}))
        wait_for(lambda: delivered_to(second), timeout=WITHIN_SECONDS, what="l'alerte derrière l'empoisonnée")
        (letter,) = wait_for(lambda: dead_letters(DELIVER_ALERT), what="la lettre morte de l'alerte empoisonnée")

    assert letter.payload == {
        "delivery_id": poison,
        "situation_id": first,
        "structure": "eps:paris-13",
        "channel": "email",
        "kind": "opened",
        "attempts": 0,
    }
    (row,) = sql("SELECT status, last_error FROM deliveries WHERE id = :id", id=poison)
    assert row.status == "failed" and "DataError" in row.last_error
    assert outbox_done(outbox_id)


# --- The deadline scan ---------------------------------------------------------------------------------------


def test_the_deadline_scan_sets_aside_a_situation_it_cannot_read_and_escalates_the_others(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    passed = datetime.now(UTC) - timedelta(minutes=1)
    good = [route_one(client, outreach, wait_routed, family({"lat": 48.822 + 0.004 * n, "lon": 2.34})) for n in (0, 2)]
    poison = route_one(client, outreach, wait_routed, family({"lat": 48.826, "lon": 2.34}))
    for situation_id in [*good, poison]:
        set_due(situation_id, ack=passed)
    # Due first of all (the scan takes the soonest deadline first), and unreadable.
    sql(
        f"UPDATE situations SET ack_due = ack_due - interval '1 hour', opened_at = '{BEFORE_YEAR_ONE}' WHERE id = :id",
        id=poison,
    )

    scan_deadlines_task.delay()
    for situation_id in good:
        wait_for(partial(_escalation_reasons, situation_id), what="l'escalade des bonnes situations")
    (letter,) = wait_for(lambda: dead_letters(SCAN_DEADLINES), what="la lettre morte de la situation illisible")
    assert letter.payload == {"situation_id": poison, "deadline": "ack"} and "DataError" in letter.error
    (row,) = sql("SELECT scan_error, escalation_reasons FROM situations WHERE id = :id", id=poison)
    assert row.scan_error.startswith("ack: ") and row.escalation_reasons == []

    # Set aside for good: the next scans do not pick it again.
    late = route_one(client, outreach, wait_routed, family({"lat": 48.83, "lon": 2.35}))
    set_due(late, ack=passed)
    scan_deadlines_task.delay()
    wait_for(lambda: situation_row(late).escalation_reasons, what="l'escalade au passage suivant")
    assert len(dead_letters(SCAN_DEADLINES)) == 1


def test_a_situation_whose_escalation_fails_is_set_aside_and_the_batch_goes_on(
    client: TestClient, outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    passed = datetime.now(UTC) - timedelta(minutes=1)
    good = route_one(client, outreach, wait_routed, family())
    failing = route_one(client, outreach, wait_routed, family({"lat": 48.8270, "lon": 2.3760}))
    for situation_id in (good, failing):
        set_due(situation_id, ack=passed)
    sql(
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'événement refusé'; END $$"
    )
    sql(
        "CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW "
        f"WHEN (NEW.situation_id = '{failing}') EXECUTE FUNCTION refuse_event()"
    )
    try:
        scan_deadlines_task.delay()
        wait_for(lambda: situation_row(good).escalation_reasons, what="l'escalade de la bonne situation")
        (letter,) = wait_for(lambda: dead_letters(SCAN_DEADLINES), what="la mise à l'écart")
    finally:
        sql("DROP TRIGGER refuse_event ON events")
        sql("DROP FUNCTION refuse_event()")
    assert letter.payload == {"situation_id": failing, "deadline": "ack"} and "événement refusé" in letter.error
    assert situation_row(failing).escalation_reasons == []
    assert situation_row(failing).scan_error is not None
