"""`urgence up` heals its embedded services (issue 10): a real SIGKILL of the embedded Redis, then of the embedded
PostgreSQL postmaster; the supervisor restarts each on the same port and data, the API, relay, workers and
scheduler reconnect, `/health` is 200 again within 30 s (Redis) / 60 s (PostgreSQL), and every signal accepted
before, during and after is routed exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from services.launcher.embedded import EmbeddedPostgres
from tests.e2e.up_support import SIGNAL_BODY, Up, assert_stopped, create_token, running_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

REDIS_HEALTHY_AGAIN_SECONDS = 30.0
POSTGRES_HEALTHY_AGAIN_SECONDS = 60.0
ROUTED_WITHIN_SECONDS = 60.0
# Short outbox and broker timings, as in the other reliability tests: a message lost with the broker's last
# second comes back in seconds, not minutes.
FAST_RECOVERY = {"URGENCE_OUTBOX_REDELIVER_SECONDS": "5", "URGENCE_BROKER_VISIBILITY_TIMEOUT": "10"}
# And no Chromium: `up` says so at start (a warning), and runs.
NO_CHROMIUM = {"URGENCE_CHROMIUM_BINARY": "/nonexistent/chromium"}


def _health(up: Up) -> int:
    try:
        return httpx.get(f"{up.base_url}/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _wait_health(up: Up, status: int, within: float, what: str) -> float:
    began = time.monotonic()
    while time.monotonic() - began < within:
        assert up.proc.poll() is None, f"`urgence up` exited ({up.proc.returncode}):\n{up.output()}"
        if _health(up) == status:
            return time.monotonic() - began
        time.sleep(0.2)
    pytest.fail(f"/health not {status} within {within} s {what}:\n{up.output()}")


def _wait_restarted(pidfile: Path, killed: int, up: Up) -> None:
    deadline = time.monotonic() + POSTGRES_HEALTHY_AGAIN_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):
            if _pid(pidfile) != killed:
                return
        time.sleep(0.2)
    pytest.fail(f"{pidfile.name} still names the killed process {killed}:\n{up.output()}")


def _post(client: httpx.Client, count: int, first: int) -> list[str]:
    """`count` signals half a kilometre apart (none joins another's situation: one situation per signal)."""
    ids = []
    for index in range(first, first + count):
        location = {"lat": 48.825 + (index % 4) * 0.005, "lon": 2.34 + (index // 4) * 0.008}
        answer = client.post("/v1/signals", json={**SIGNAL_BODY, "location": location})
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def _pid(path: Path) -> int:
    return int(path.read_text().splitlines()[0].strip())


def _routing_state(database_url: str) -> tuple[dict[str, int], int, list[str], int]:
    """(signals by status, situations, signal ids of the 'opened' events, outbox rows not finished)."""
    with psycopg.connect(database_url, connect_timeout=5) as connection:
        by_status: dict[str, int] = dict(
            connection.execute("SELECT status, count(*) FROM signals GROUP BY status").fetchall()
        )
        situations = connection.execute("SELECT count(*) FROM situations").fetchone()
        opened = connection.execute("SELECT data->>'signal_id' FROM events WHERE type = 'opened'").fetchall()
        unfinished = connection.execute("SELECT count(*) FROM outbox WHERE done_at IS NULL").fetchone()
    assert situations is not None and unfinished is not None
    return by_status, int(situations[0]), [row[0] for row in opened], int(unfinished[0])


def _assert_all_routed_exactly_once(data_dir: Path, ids: list[str], up: Up) -> None:
    database_url = EmbeddedPostgres(data_dir).uri()
    deadline = time.monotonic() + ROUTED_WITHIN_SECONDS
    state = _routing_state(database_url)
    while time.monotonic() < deadline and (state[0] != {"routed": len(ids)} or state[3]):
        time.sleep(0.5)
        state = _routing_state(database_url)
    by_status, situations, opened, unfinished = state
    assert by_status == {"routed": len(ids)}, f"{by_status}\n{up.output()}"
    assert situations == len(ids), "each signal opens its own situation, once"
    assert sorted(opened) == sorted(ids), "one 'opened' event per signal"
    assert unfinished == 0


def test_up_restarts_killed_redis_and_postgresql_and_loses_nothing(data_dir: Path, tmp_path: Path) -> None:
    with running_up(data_dir, tmp_path / "up.log", FAST_RECOVERY | NO_CHROMIUM) as up:
        _run_kills(up, data_dir)


def _run_kills(up: Up, data_dir: Path) -> None:
    up.wait_healthy()
    token = create_token(data_dir)
    with httpx.Client(base_url=up.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        ids = _post(client, 3, 0)

        redis_port = (data_dir / "redis" / "port").read_text().strip()
        redis_pid = _pid(data_dir / "redis" / "redis.pid")
        os.kill(redis_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        ids += _post(client, 3, len(ids))  # the API writes the outbox, never the broker: still 202
        # A new redis-server (the 503 in between may be too short to see), then 200 within the budget.
        _wait_restarted(data_dir / "redis" / "redis.pid", redis_pid, up)
        _wait_health(up, 200, REDIS_HEALTHY_AGAIN_SECONDS - (time.monotonic() - killed_at), "after Redis was killed")
        print(f"Redis tué : /health 200 de nouveau après {time.monotonic() - killed_at:.1f} s")
        assert (data_dir / "redis" / "port").read_text().strip() == redis_port, "same port"
        ids += _post(client, 3, len(ids))
        _assert_all_routed_exactly_once(data_dir, ids, up)

        postmaster = _pid(data_dir / "postgres" / "postmaster.pid")
        os.kill(postmaster, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait_restarted(data_dir / "postgres" / "postmaster.pid", postmaster, up)
        _wait_health(
            up, 200, POSTGRES_HEALTHY_AGAIN_SECONDS - (time.monotonic() - killed_at), "after PostgreSQL was killed"
        )
        print(f"PostgreSQL tué : /health 200 de nouveau après {time.monotonic() - killed_at:.1f} s")
        assert _pid(data_dir / "postgres" / "postmaster.pid") != postmaster
        ids += _post(client, 3, len(ids))
        _assert_all_routed_exactly_once(data_dir, ids, up)

    output = up.log.read_text(errors="replace")
    assert "Chromium introuvable" in output and "paquet Debian « chromium »" in output, output
    assert "Redis embarqué s'était arrêté" in output and "PostgreSQL embarqué s'était arrêté" in output, output
    assert_stopped(up, data_dir)
