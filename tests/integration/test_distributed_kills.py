"""The distributed deployment under SIGKILL: separate `urgence api`, `urgence relay`, `urgence worker` and
`urgence beat` processes on the suite's PostgreSQL and a Redis of the test's own. During a burst of signals, one
of each — and Redis — is killed with SIGKILL and started again; afterwards every signal answered 202 (and any the
API stored before a kill cut its answer) is routed exactly once: one decision, its own situation, one 'opened'
event, the outbox all done, no dead letter. Intake never answers anything but 202 meanwhile (Redis down
included): a request fails only while the API process itself is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import TokenFactory
from tests.support.exactly_once import (
    all_routed,
    assert_routed_exactly_once,
    distinct_signal,
    outbox_finished,
    stored_signal_ids,
)
from tests.support.stack import Stack, running_stack
from tests.support.waiting import wait_for

PACE_SECONDS = 0.04  # a steady burst (≈ 25 signals/s) that lasts through every kill and restart
STEP = 25  # signals accepted between two kills


@pytest.fixture
def deployment(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with running_stack(tmp_path, database_url) as stack:
        stack.env["URGENCE_RATE_LIMIT_PER_MINUTE"] = "100000"  # one client sends the whole burst
        stack.start_redis()
        stack.start_api()
        stack.start_relay()
        stack.start_worker()
        stack.start_beat()
        yield stack


class Burst:
    """Posts distinct signals one after another until stopped; keeps the ids answered 202 and any other status.
    A request the API could not finish answering (its process killed) is not sent again: the next signal is
    another one, so a signal stored before the kill cut its answer is never doubled by a resend."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url, self.headers = base_url, headers
        self.accepted: list[str] = []
        self.other_statuses: list[int] = []
        self.cut = 0  # requests left without an answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rafale", daemon=True)

    def __enter__(self) -> Burst:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        index = 0
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=5) as http:
            while not self._stop.is_set():
                try:
                    answer = http.post("/v1/signals", json=distinct_signal(index))
                except httpx.ConnectError:  # nothing was sent: the same signal again, once the API is back
                    time.sleep(0.2)
                    continue
                except httpx.TransportError:
                    self.cut += 1
                else:
                    if answer.status_code == 202:
                        self.accepted.append(answer.json()["id"])
                    else:
                        self.other_statuses.append(answer.status_code)
                index += 1
                time.sleep(PACE_SECONDS)

    def wait_for_more(self, count: int, what: str) -> None:
        target = len(self.accepted) + count
        wait_for(lambda: len(self.accepted) >= target, timeout=60, what=f"{count} signalements acceptés ({what})")


def test_one_of_each_and_redis_killed_during_a_burst_route_every_signal_exactly_once(
    deployment: Stack, token: TokenFactory
) -> None:
    stack = deployment
    restart: dict[str, Callable[[], object]] = {
        "worker": stack.start_worker,
        "relay": stack.start_relay,
        "redis": stack.start_redis,
        "api": stack.start_api,
        "beat": stack.start_beat,
    }
    with Burst(stack.base_url, token("outreach")) as burst:
        for name, start in restart.items():
            burst.wait_for_more(STEP, f"avant de tuer {name}")
            stack.stop(name)  # SIGKILL to the process group, mid-burst
            start()
        burst.wait_for_more(STEP, "après le dernier redémarrage")

    assert burst.other_statuses == [], "intake answers 202 or nothing at all"
    stored = stored_signal_ids()
    assert set(burst.accepted) <= set(stored), "every 202 is in the database"
    assert len(stored) <= len(burst.accepted) + burst.cut
    wait_for(lambda: all_routed(stored), timeout=60, what="le routage de tous les signalements\n" + stack.logs())
    wait_for(outbox_finished, timeout=30, what="la fin de l'outbox\n" + stack.logs())
    assert_routed_exactly_once(stored)
