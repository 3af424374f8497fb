"""`urgence up` in embedded mode, end to end: a fresh data directory, no URGENCE_DATABASE_URL / BROKER_URL.

Starts the real command in a subprocess, waits for /health, creates a token with `urgence token create`,
submits a signal and waits for a worker to route it, stops with SIGINT (within 15 s, nothing left behind),
then starts again on the same data directory and finds the signal.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.up_support import (
    SIGNAL_BODY,
    assert_stopped,
    create_token,
    left_behind,
    run_cli,
    running_up,
    wait_routed,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_up_runs_routes_stops_cleanly_and_keeps_data(data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "up.log"

    with running_up(data_dir, log) as up:
        up.wait_healthy()
        # While `up` runs: reuses its PostgreSQL (and says so), must not stop it.
        token = create_token(data_dir, expect_on_stderr="du « urgence up » en marche")
        output = up.output()
        # The commands as the user types them; the French start messages are not buried under Celery's.
        assert f"URGENCE_DATA_DIR={data_dir} uv run urgence token create --role outreach" in output, output
        assert "celery@" not in output and "SecurityWarning" not in output and "celery beat v" not in output, output
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=up.base_url, headers=headers, timeout=10) as client:
            answer = client.post("/v1/signals", json=SIGNAL_BODY)
            assert answer.status_code == 202, answer.text
            signal_id = answer.json()["id"]
            routed = wait_routed(client, signal_id, up)
            assert routed["arrondissement"] == 13
        assert httpx.get(f"{up.base_url}/health", timeout=5).status_code == 200
        assert_stopped(up, data_dir)

    # No `up` any more: the data directory's own database, started for the command only, and said so.
    create_token(data_dir, expect_on_stderr="Aucun « urgence up » ne tourne")
    assert not left_behind(data_dir)

    with running_up(data_dir, log) as up:
        up.wait_healthy()
        with httpx.Client(base_url=up.base_url, headers=headers, timeout=10) as client:
            again = client.get(f"/v1/signals/{signal_id}")
            assert again.status_code == 200, again.text
            assert again.json()["status"] == "routed"
        assert_stopped(up, data_dir)


def test_a_command_refuses_to_create_an_empty_database_and_leaves_nothing_running(data_dir: Path) -> None:
    refused = run_cli(data_dir, "token", "create", "--role", "outreach")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"Aucune base de données dans {data_dir}" in refused.stderr
    assert "uv run urgence up" in refused.stderr
    assert not refused.stdout.strip(), "no token printed"
    assert not (data_dir / "postgres").exists(), "no second embedded database"
    assert not left_behind(data_dir)
