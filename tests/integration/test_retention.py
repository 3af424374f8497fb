"""Retention: personal data erased a set time after resolution, statistics unchanged, nothing else touched."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.models import DeadLetter, Event, Signal, Situation
from services.core.retention import erase_expired, months_before
from services.core.stats.semesters import Semester
from tests.integration.conftest import TokenFactory, family_13

pytestmark = pytest.mark.usefixtures("worker")
WaitRouted = Callable[[str], Signal]


@pytest.mark.parametrize(
    ("instant", "months", "expected"),
    [
        ("2026-11-29T10:00:00+00:00", 24, "2024-11-29T10:00:00+00:00"),
        ("2026-03-31T10:00:00+00:00", 1, "2026-02-28T10:00:00+00:00"),
        ("2028-03-31T10:00:00+00:00", 1, "2028-02-29T10:00:00+00:00"),
        ("2026-01-15T00:00:00+00:00", 13, "2024-12-15T00:00:00+00:00"),
    ],
)
def test_months_before_counts_calendar_months(instant: str, months: int, expected: str) -> None:
    assert months_before(datetime.fromisoformat(instant), months) == datetime.fromisoformat(expected)


def resolved_situation(client: TestClient, token: TokenFactory, wait_routed: WaitRouted) -> tuple[str, str]:
    body = family_13(place="sous le porche du 12", description="Famille avec trois enfants, un nourrisson")
    signal_id = client.post("/v1/signals", json=body, headers=token("outreach")).json()["id"]
    situation_id = wait_routed(signal_id).situation_id
    assert situation_id is not None
    eps = token("coordinator", leads=["eps:paris-13"])
    base = f"/v1/situations/{situation_id}"
    assert client.post(f"{base}/contacts", json={"result": "met", "note": "vue devant l'école"}, headers=eps).is_success
    assert client.post(f"{base}/resolve", json={"outcome": "sheltered", "note": "hôtel 115"}, headers=eps).is_success
    return signal_id, situation_id


def test_personal_data_is_erased_after_the_retention_period_and_statistics_do_not_change(
    client: TestClient, token: TokenFactory, wait_routed: WaitRouted
) -> None:
    signal_id, situation_id = resolved_situation(client, token, wait_routed)
    admin = token("admin")
    semester = Semester.of(utc_now()).code
    before = client.get(f"/v1/stats/semesters/{semester}", headers=admin).json()

    with session_scope() as session:
        resolved_at = session.get(Situation, situation_id).resolved_at  # type: ignore[union-attr]
        assert resolved_at is not None
        # A few days short of 24 months: nothing is erased yet.
        early = erase_expired(session, now=resolved_at + timedelta(days=725), months=24)
        session.commit()
    assert early.signals == 0 and early.events == 0

    with session_scope() as session:
        late = erase_expired(session, now=resolved_at + timedelta(days=735), months=24)
        session.commit()
    assert late.signals == 1 and late.situations == 1 and late.events >= 2

    with session_scope() as session:
        signal = session.get(Signal, signal_id)
        assert signal is not None
        assert (signal.lat, signal.lon, signal.place, signal.description) == (None, None, None, None)
        assert signal.arrondissement == 13 and signal.people["children"] == 3  # what statistics use stays
        situation = session.get(Situation, situation_id)
        assert situation is not None and situation.last_lat is None and situation.outcome == "sheltered"
        events = session.exec(select(Event).where(col(Event.situation_id) == situation_id)).all()
        assert all("note" not in event.data for event in events)
        assert {event.type for event in events} >= {"opened", "contact_logged", "resolved"}

    after = client.get(f"/v1/stats/semesters/{semester}", headers=admin).json()
    assert {**after, "as_of": None} == {**before, "as_of": None}
    assert before["situations_resolved"] == 1

    with session_scope() as session:
        again = erase_expired(session, now=resolved_at + timedelta(days=735), months=24)
        session.commit()
    assert again.signals == again.situations == again.events == 0


def test_open_situations_keep_their_data(client: TestClient, token: TokenFactory, wait_routed: WaitRouted) -> None:
    signal_id = client.post("/v1/signals", json=family_13(), headers=token("outreach")).json()["id"]
    wait_routed(signal_id)
    with session_scope() as session:
        erased = erase_expired(session, now=utc_now() + timedelta(days=3650), months=24)
        session.commit()
        signal = session.get(Signal, signal_id)
    assert erased.signals == 0 and signal is not None and signal.description == "Famille avec trois enfants"


def test_old_dead_letters_are_emptied() -> None:
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with session_scope() as session:
        session.add(
            DeadLetter(task="urgence.deliver_alert", payload={"delivery_id": "x"}, error="500", created_at=long_ago)
        )
        session.commit()
        erased = erase_expired(session, now=utc_now(), months=24)
        session.commit()
        emptied = session.exec(select(DeadLetter)).one()
    assert erased.dead_letters == 1 and emptied.payload == {}
