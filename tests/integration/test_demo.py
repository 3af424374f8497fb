"""`urgence demo` (services.demo) on small semesters in the test database: the same seed gives the same data,
whatever the number of worker processes; every fiche and every outcome appears; escalations happen; signals are
spread over the semester, more in winter; nothing written for a broker is left to send."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from services.core.db import get_engine, session_scope
from services.core.procedures import active_fiches
from services.core.situations.actions import OUTCOMES
from services.core.stats.figures import semester_report
from services.core.stats.semesters import Semester
from services.core.territory import default_map
from services.demo.semester import DemoResult, plan, run, share_out
from tests.integration.conftest import TABLES

NOW = datetime.fromisoformat("2026-11-01T12:00:00+01:00")
S1 = Semester(2026, 1)
FICHES = tuple(f"FR{n:02d}" for n in range(15))


def fill(count: int, seed: int, workers: int) -> DemoResult:
    return run(
        get_engine(),
        S1,
        count=count,
        seed=seed,
        now=NOW,
        fiches=active_fiches(),
        territory_map=default_map(),
        workers=workers,
    )


def empty() -> None:
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


def rows(sql: str) -> list[tuple[Any, ...]]:
    with get_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def figures() -> dict[str, Any]:
    with session_scope() as session:
        return semester_report(
            session, S1, sector=None, variant="internal", now=NOW, threshold=5, fiche_codes=active_fiches().codes
        )


def snapshot() -> dict[str, Any]:
    """What the demo wrote, leaving out what only says in which order the workers wrote it (serial ids)."""
    return {
        "figures": figures(),
        "signals": rows(
            "SELECT id, received_at, source, people, flags, status, sector, situation_id FROM signals ORDER BY id"
        ),
        "situations": rows(
            "SELECT id, status, primary_fiche, lead, sector, ack_due, acknowledged_at, first_contact_at, "
            "contact_overdue_at, resolved_at, outcome, escalation_reasons, signal_count FROM situations ORDER BY id"
        ),
        "events": Counter(rows("SELECT situation_id, type, at, actor, data::text FROM events")),
        "rollups": rows("SELECT day, sector, counts, open_at_end FROM stats_daily ORDER BY day, sector"),
    }


def test_the_same_seed_gives_the_same_data_whatever_the_number_of_workers() -> None:
    first = fill(300, seed=11, workers=2)
    before = snapshot()
    empty()
    second = fill(300, seed=11, workers=1)
    assert second == first
    assert snapshot() == before
    assert first.signals == 300 and first.situations > 200 and first.actions > 500


def test_a_demo_semester_looks_real() -> None:
    result = fill(300, seed=5, workers=2)
    report = figures()
    assert report["signals_received"] == 300 == result.signals
    assert report["situations_opened"] == result.situations
    # Every fiche and every outcome is represented.
    assert all(report["by_fiche"][code] > 0 for code in FICHES), report["by_fiche"]
    assert all(report["by_outcome"][outcome] > 0 for outcome in OUTCOMES), report["by_outcome"]
    # Escalations, by hand and by the real deadline scan (found within one scan period after the deadline).
    assert report["escalations"] == result.escalations > 0
    reasons = dict(rows("SELECT data->>'reason', count(*) FROM events WHERE type = 'escalated' GROUP BY 1"))
    assert {"ack_overdue", "resolve_overdue", "manual"} <= set(reasons)
    late = rows(
        "SELECT count(*), count(*) FILTER (WHERE e.at > s.ack_due AND e.at <= s.ack_due + interval '30 seconds') "
        "FROM events e JOIN situations s ON s.id = e.situation_id "
        "WHERE e.type = 'escalated' AND e.data->>'reason' = 'ack_overdue'"
    )
    assert late[0][0] == late[0][1] > 0
    assert rows("SELECT count(*) FROM events WHERE type = 'contact_overdue'")[0][0] > 0
    assert rows("SELECT count(*) FROM events WHERE type = 'signal_joined'")[0][0] > 0
    # Plausible times: most deadlines met, not all.
    for kind in ("ack", "contact", "resolve"):
        assert 0.5 < report["deadlines_met"][kind] < 1, report["deadlines_met"]
        assert report[f"time_to_{kind}"]["median_minutes"] is not None
    # Spread over the semester, more in winter.
    months = dict(
        rows(
            "SELECT extract(month FROM received_at AT TIME ZONE 'Europe/Paris')::int, count(*) FROM signals GROUP BY 1"
        )
    )
    assert set(months) == {1, 2, 3, 4, 5, 6}
    assert months[1] + months[2] > 1.3 * (months[5] + months[6]), months
    # Nothing the demo wrote for a broker is left for the relay to send.
    assert rows("SELECT count(*) FROM outbox WHERE done_at IS NULL") == [(0,)]
    # Every closed day of the semester is rolled up for the statistics.
    assert result.days_rolled == 181
    # The same run again (same semester, count and seed: the same ids) is refused, in French.
    with pytest.raises(ValueError, match="contient déjà cette démonstration"):
        fill(300, seed=5, workers=2)


def test_a_large_plan_is_skewed_to_winter_and_to_the_north_and_east() -> None:
    planned = plan(S1, 10_000, seed=1, until=NOW)
    assert len(planned) == 10_000 and sum(s.forced for s in planned) == 15
    assert [s.at for s in planned] == sorted(s.at for s in planned)
    months = Counter(s.at.month for s in planned)
    assert months[1] > months[3] > months[6]
    shares = share_out(planned, default_map(), workers=1)
    assert len(shares) == 1
    by_sector = Counter(
        default_map().locate(lat=s.location["point"][0], lon=s.location["point"][1]).sector
        for s in planned
        if "point" in s.location
    )
    assert by_sector["paris-18"] + by_sector["paris-19"] > 3 * (by_sector["paris-07"] + by_sector["paris-16"])
    # Two workers get whole sectors, about as many signals each.
    halves = share_out(planned, default_map(), workers=2)
    assert not set(halves[0].sectors) & set(halves[1].sectors)
    assert abs(len(halves[0].signals) - len(halves[1].signals)) < 1_000
