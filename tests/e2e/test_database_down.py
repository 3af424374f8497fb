"""The API with its database out of reach: every answer is still a problem document, 503 with Retry-After
(a client retries later, with its Idempotency-Key), never a bare 500."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from services.core.settings import PROJECT_ROOT
from tests.support.stack import free_port, kill_group
from tests.support.waiting import wait_for


def _answers(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_requests_get_a_503_problem_while_the_database_is_down(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/urgence"  # nothing listens there
    port = free_port()
    env = os.environ | {"URGENCE_DATABASE_URL": nowhere, "URGENCE_DATA_DIR": str(tmp_path)}
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api", "--port", str(port), "--no-migrate"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(lambda: _answers(f"{base}/health"), timeout=30, what="l'API")
        assert health.status_code == 503

        headers = {"Authorization": "Bearer urg_inconnu"}
        for answer in (
            httpx.get(f"{base}/v1/signals/abc", headers=headers, timeout=10),
            httpx.post(f"{base}/v1/signals", headers=headers, json={"source": "maraude"}, timeout=10),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.headers["retry-after"] == "5"
            assert answer.json()["status"] == 503
    finally:
        kill_group(api, timeout=15)
