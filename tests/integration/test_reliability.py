"""Nothing lost, nothing doubled: a worker killed mid-routing, a broker stopped while signals arrive.

These run the real processes (API, worker, beat via the CLI) against a private Redis, so the test can kill and
restart them; the database is the suite's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlmodel import col, func, select

from services.core.db import session_scope
from services.core.models import Event, OutboxMessage, Signal, Situation
from tests.integration.conftest import TokenFactory
from tests.support.stack import Stack, running_stack
from tests.support.waiting import wait_for


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path, database_url) as running:
        running.start_redis()
        running.start_api()
        running.start_relay()
        yield running


def distinct_signal(index: int) -> dict[str, Any]:
    """Signals far enough apart (≥ 200 m, spread over the 13th and 14th) that none joins another."""
    return {
        "location": {"lat": 48.822 + 0.002 * (index % 5), "lon": 2.33 + 0.003 * (index // 5)},
        "source": "maraude",
        "people": {"adults": 1},
    }


def submit_all(stack: Stack, headers: dict[str, str], count: int, first: int = 0) -> list[str]:
    ids = []
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=10) as http:
        for index in range(first, first + count):
            answer = http.post("/v1/signals", json=distinct_signal(index))
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
    return ids


def all_routed(ids: list[str]) -> bool:
    with session_scope() as session:
        pending = session.exec(
            select(func.count()).where(col(Signal.id).in_(ids), col(Signal.status) == "received")
        ).one()
    return pending == 0


def assert_routed_exactly_once(ids: list[str]) -> None:
    with session_scope() as session:
        signals = session.exec(select(Signal).where(col(Signal.id).in_(ids))).all()
        assert {s.status for s in signals} == {"routed"}
        situation_ids = {s.situation_id for s in signals}
        assert len(situation_ids) == len(ids), "each signal opens its own situation"
        assert session.exec(select(func.count()).select_from(Situation)).one() == len(ids)
        opened = session.exec(select(Event.data).where(col(Event.type) == "opened")).all()
        assert sorted(data["signal_id"] for data in opened) == sorted(ids), "one 'opened' event per signal"
        unfinished = session.exec(select(func.count()).where(col(OutboxMessage.done_at).is_(None))).one()
        assert unfinished == 0


def routing_is_blocked_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        waiting = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%FROM signals%'"
        ).fetchone()
    return bool(waiting and waiting[0] > 0)


def test_worker_killed_mid_routing_loses_nothing_and_doubles_nothing(
    stack: Stack, token: TokenFactory, database_url: str
) -> None:
    ids = submit_all(stack, token("outreach"), 12)
    plain_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    # Hold every signal's row: the worker takes a message, starts routing, and waits on the lock mid-task.
    with psycopg.connect(plain_url) as blocker:
        blocker.execute("SELECT id FROM signals FOR UPDATE")
        stack.start_worker()
        wait_for(lambda: routing_is_blocked_on_a_lock(database_url), timeout=30, what="un routage en cours")
        stack.stop("worker")  # SIGKILL to the whole process group, mid-task
        blocker.rollback()
    assert not all_routed(ids)
    stack.start_worker()
    stack.start_beat()
    wait_for(lambda: all_routed(ids), timeout=60, what="le routage de tous les signalements\n" + stack.logs())
    wait_for(lambda: _outbox_finished(ids), timeout=30, what="la fin de l'outbox")
    assert_routed_exactly_once(ids)


def _outbox_finished(ids: list[str]) -> bool:
    with session_scope() as session:
        return session.exec(select(func.count()).where(col(OutboxMessage.done_at).is_(None))).one() == 0


def test_broker_down_while_signals_arrive_delays_routing_and_loses_nothing(stack: Stack, token: TokenFactory) -> None:
    headers = token("outreach")
    stack.start_worker()
    stack.start_beat()
    before = submit_all(stack, headers, 3)
    wait_for(lambda: all_routed(before), timeout=30, what="le routage avant la panne\n" + stack.logs())

    stack.stop("redis")
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["checks"]["broker"] == "down"
    during = submit_all(stack, headers, 10, first=len(before))  # every one still answered 202
    assert not all_routed(during)

    stack.start_redis()  # empty: whatever it held is gone
    wait_for(lambda: all_routed(during), timeout=90, what="le routage après la panne\n" + stack.logs())
    wait_for(lambda: _outbox_finished(during), timeout=30, what="la fin de l'outbox")
    assert_routed_exactly_once(before + during)
