"""Nothing lost, nothing doubled: a worker killed mid-routing, a broker stopped while signals arrive.

These run the real processes (API, worker, beat via the CLI) against a private Redis, so the test can kill and
restart them; the database is the suite's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.integration.conftest import TokenFactory
from tests.support.exactly_once import all_routed, assert_routed_exactly_once, outbox_finished, submit_all
from tests.support.stack import Stack, running_stack
from tests.support.waiting import wait_for


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path, database_url) as running:
        running.start_redis()
        running.start_api()
        running.start_relay()
        yield running


def routing_is_blocked_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        waiting = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%FROM signals%'"
        ).fetchone()
    return bool(waiting and waiting[0] > 0)


def test_worker_killed_mid_routing_loses_nothing_and_doubles_nothing(
    stack: Stack, token: TokenFactory, database_url: str
) -> None:
    ids = submit_all(stack.base_url, token("outreach"), 12)
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
    wait_for(lambda: outbox_finished(), timeout=30, what="la fin de l'outbox")
    assert_routed_exactly_once(ids)


def test_broker_down_while_signals_arrive_delays_routing_and_loses_nothing(stack: Stack, token: TokenFactory) -> None:
    headers = token("outreach")
    stack.start_worker()
    stack.start_beat()
    before = submit_all(stack.base_url, headers, 3)
    wait_for(lambda: all_routed(before), timeout=30, what="le routage avant la panne\n" + stack.logs())

    stack.stop("redis")
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["checks"]["broker"] == "down"
    during = submit_all(stack.base_url, headers, 10, first=len(before))  # every one still answered 202
    assert not all_routed(during)

    stack.start_redis()  # empty: whatever it held is gone
    wait_for(lambda: all_routed(during), timeout=90, what="le routage après la panne\n" + stack.logs())
    wait_for(lambda: outbox_finished(), timeout=30, what="la fin de l'outbox")
    assert_routed_exactly_once(before + during)
