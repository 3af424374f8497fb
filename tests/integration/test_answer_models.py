"""Routes that write their answer themselves (a `JSONResponse`: the intake's hot path, `/health`, the
statistics with their CSV) are not checked by FastAPI against their answer model: checked here, with real data,
against the same models OpenAPI documents (extra keys forbidden)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.api.schemas.health import HealthOut
from services.api.schemas.signals import SignalOut
from services.api.schemas.situations import SituationOut
from services.api.schemas.stats import SemesterReport
from services.core.clock import utc_now
from services.core.models import Signal
from services.core.signals.schemas import SignalAccepted
from tests.integration.conftest import TokenFactory, family_13

pytestmark = pytest.mark.usefixtures("worker")


def test_intake_signal_and_situation_answers_match_their_models(
    client: TestClient, token: TokenFactory, wait_routed: Callable[[str], Signal]
) -> None:
    outreach = token("outreach")
    answer = client.post("/v1/signals", json=family_13(), headers={**outreach, "Idempotency-Key": "modele-1"})
    assert answer.status_code == 202
    accepted = SignalAccepted.model_validate(answer.json())
    again = client.post("/v1/signals", json=family_13(), headers={**outreach, "Idempotency-Key": "modele-1"})
    assert SignalAccepted.model_validate(again.json()) == accepted  # the stored answer has the same shape
    signal = wait_routed(accepted.id)
    read = client.get(f"/v1/signals/{accepted.id}", headers=outreach)
    assert read.status_code == 200
    shown = SignalOut.model_validate(read.json())
    assert shown.routing is not None and shown.location is not None  # the reporter reads its personal fields
    mus = token("coordinator", leads=["mus"])
    situation = client.get(f"/v1/situations/{signal.situation_id}", headers=mus)
    assert SituationOut.model_validate(situation.json()).signal_ids == [accepted.id]


@pytest.mark.parametrize("variant", ["internal", "published"])
def test_statistics_answer_matches_its_model(client: TestClient, token: TokenFactory, variant: str) -> None:
    client.post("/v1/signals", json=family_13(), headers=token("outreach"))
    semester = f"{utc_now().year}-S{1 if utc_now().month < 7 else 2}"
    for sector in (None, "paris-13"):
        params = {"variant": variant, **({"sector": sector} if sector else {})}
        answer = client.get(f"/v1/stats/semesters/{semester}", params=params, headers=token("admin"))
        assert answer.status_code == 200, answer.text
        report = SemesterReport.model_validate(answer.json())
        assert report.variant == variant and report.sector == sector


def test_health_answer_matches_its_model(client: TestClient, everything_beats: None) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert HealthOut.model_validate(answer.json()).status == "ok"
