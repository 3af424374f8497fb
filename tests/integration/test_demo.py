"""`urgence demo` (services.demo) on small semesters in the test database: the same seed gives the same data,
whatever the number of worker processes; every fiche and every outcome appears; escalations happen; signals are
spread over the semester, more in winter; nothing written for a broker is left to send. Everything it writes is
marked, a database holding real signals is refused unless forced, and the purge removes what it wrote and
nothing else."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from services.cli import app
from services.core.alerts.directory import seed_directory
from services.core.db import get_engine, session_scope
from services.core.procedures import seed_book
from services.core.situations.actions import OUTCOMES
from services.core.stats.figures import semester_report
from services.core.stats.semesters import Semester
from services.core.stats.today import roll_today
from services.core.territory import default_map
from services.demo.driver import Driver
from services.demo.purge import PURGE_ACTOR, PurgeRefused, purge
from services.demo.semester import DemoResult, plan, run, share_out
from tests.integration.conftest import TABLES

NOW = datetime.fromisoformat("2026-11-01T12:00:00+01:00")
S1 = Semester(2026, 1)
FICHES = tuple(f"FR{n:02d}" for n in range(15))


def fill(count: int, seed: int, workers: int, force: bool = False) -> DemoResult:
    return run(
        get_engine(),
        S1,
        count=count,
        seed=seed,
        now=NOW,
        fiches=seed_book(),
        territory_map=default_map(),
        workers=workers,
        force=force,
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
            session, S1, sector=None, variant="internal", now=NOW, threshold=5, fiche_codes=seed_book().codes
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
    planned = plan(S1, 10_000, seed=1, until=NOW, territory_map=default_map())
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


# ----------------------------------------------------------------------------------- marker, refusal, purge

MARKED = ("signals", "situations", "events", "deliveries", "outbox")


def reachable_directory() -> None:
    """Every structure of the seed reachable by e-mail, so that routing and escalations write alerts."""
    with session_scope() as session:
        seed_directory(session, default_map(), now=NOW)
        session.execute(text("UPDATE structures SET active = true, email = 'alertes@example.org'"))
        session.commit()


def real_situation(when: datetime) -> tuple[str, str]:
    """A signal and its situation written as the API and the workers would (not by the demo): (signal, situation)."""
    with session_scope() as session:
        driver = Driver(session, seed_book(), default_map(), actor="maraude-18")
        signal_id, situation_id = driver.signal(when, point=(48.8925, 2.3444), people={"adults": 2, "children": 1})
        session.commit()
    assert situation_id is not None
    return signal_id, situation_id


def real_rows() -> dict[str, Any]:
    return {
        "counts": {table: rows(f"SELECT count(*) FROM {table} WHERE NOT demo")[0][0] for table in MARKED},
        "situations": rows(
            "SELECT id, status, escalation_level, signal_count, next_deadline FROM situations"
            " WHERE NOT demo ORDER BY id"
        ),
        "events": rows("SELECT id, type, at FROM events WHERE NOT demo ORDER BY id"),
    }


def test_everything_the_demo_writes_is_marked() -> None:
    reachable_directory()
    result = fill(150, seed=3, workers=2)
    assert result.signals == 150
    for table in MARKED:
        assert rows(f"SELECT count(*) FILTER (WHERE demo), count(*) FILTER (WHERE NOT demo) FROM {table}")[0][0] > 0
        assert rows(f"SELECT count(*) FROM {table} WHERE NOT demo") == [(0,)], table
    # The marker never leaks to another connection of the pool: what is written afterwards is real.
    real_situation(datetime.fromisoformat("2026-10-20T22:00:00+02:00"))
    assert rows("SELECT count(*) FROM signals WHERE NOT demo") == [(1,)]
    assert rows("SELECT count(*) FROM situations WHERE NOT demo") == [(1,)]


def test_a_database_with_real_signals_is_refused_unless_forced_and_the_purge_leaves_only_them() -> None:
    reachable_directory()
    # A real household in the 18th early in the semester: its deadlines pass while the demo simulates the
    # semester, in a sector the demo fills.
    real_signal, real = real_situation(datetime.fromisoformat("2026-01-03T21:00:00+01:00"))
    before, figures_before = real_rows(), figures()
    assert before["counts"]["outbox"] > 0 and before["counts"]["deliveries"] > 0

    with pytest.raises(ValueError, match="1 signalement\\(s\\) qui ne viennent pas de la démonstration"):
        fill(150, seed=4, workers=2)
    assert rows("SELECT count(*) FROM signals") == [(1,)]  # refused before writing anything

    result = fill(150, seed=4, workers=2, force=True)
    assert result.signals == 150
    # Forced in, the demo still leaves real data alone: its scan does not escalate the real situation, no demo
    # signal joins it, nothing real is rewritten.
    assert real_rows() == before
    assert rows(f"SELECT count(*) FROM signals WHERE situation_id = '{real}'") == [(1,)]

    # Someone (the real code, outside the demo) acts on a demo situation: that belongs to the demo too.
    demo_situation = rows(
        "SELECT id FROM situations WHERE demo AND status IN ('new', 'acknowledged', 'in_progress') "
        "AND NOT ('manual' = ANY (escalation_reasons)) ORDER BY id LIMIT 1"
    )[0][0]
    with session_scope() as session:
        Driver(session, seed_book(), default_map(), actor="mus").escalate(demo_situation, NOW)
        session.commit()
    assert rows(f"SELECT count(*) FROM deliveries WHERE NOT demo AND situation_id = '{demo_situation}'")[0][0] > 0
    assert rows("SELECT count(*) FROM stats_daily")[0][0] > 0
    with session_scope() as session:
        roll_today(session, NOW)
        session.commit()

    with session_scope() as session:
        gone = purge(session, NOW)
        session.commit()
    assert rows("SELECT count(*) FROM stats_today") == [(0,)]  # the day so far is live until it is rolled again
    assert gone.signals == 150 and gone.situations == result.situations
    assert gone.events > 0 and gone.deliveries > 0 and gone.outbox > 0 and gone.days_recomputed > 0
    assert real_rows() == before
    assert rows("SELECT id FROM signals") == [(real_signal,)]
    for table in MARKED:
        assert rows(f"SELECT count(*) FROM {table} WHERE demo") == [(0,)], table
    assert rows(f"SELECT count(*) FROM events WHERE situation_id = '{demo_situation}'") == [(0,)]
    # The figures are those of the real data alone, from the recomputed rollups.
    assert figures() == figures_before
    assert rows("SELECT min(day) FROM stats_daily")[0][0] is not None
    # The audit log is not edited; it says what the purge removed.
    assert rows("SELECT actor, action, detail->>'signals' FROM audit_log") == [(PURGE_ACTOR, "demo.purge", "150")]


def test_a_purge_caught_in_a_deadlock_with_a_worker_starts_again_and_removes_everything() -> None:
    reachable_directory()
    fill(150, seed=8, workers=1)
    delivery, outbox = rows(
        "SELECT id, outbox_id FROM deliveries WHERE demo AND outbox_id IS NOT NULL ORDER BY id LIMIT 1"
    )[0]
    held = threading.Event()

    def worker_delivering() -> None:
        """What a worker delivering that alert does: its delivery locked, then its outbox row marked done."""
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1 FROM deliveries WHERE id = :id FOR UPDATE"), {"id": delivery})
            held.set()
            time.sleep(0.5)  # meanwhile the purge deletes the outbox row, then waits for the delivery
            connection.execute(text("UPDATE outbox SET done_at = now() WHERE id = :id"), {"id": outbox})
            connection.commit()

    worker = threading.Thread(target=worker_delivering)
    worker.start()
    held.wait(10)
    with session_scope() as session:
        gone = purge(session, NOW)  # PostgreSQL's detector (1 s) picks the purge, which waited first
        session.commit()
    worker.join(10)
    assert gone.signals == 150 and gone.deliveries > 0
    for table in MARKED:
        assert rows(f"SELECT count(*) FROM {table} WHERE demo") == [(0,)], table
    assert rows(f"SELECT count(*) FROM outbox WHERE id = {outbox}") == [(0,)]


def test_the_purge_refuses_when_real_signals_joined_demo_situations_and_clears_rollups_of_a_demo_database() -> None:
    fill(150, seed=6, workers=1)
    real_signal, _ = real_situation(datetime.fromisoformat("2026-10-20T22:00:00+02:00"))
    demo_situation = rows("SELECT id FROM situations WHERE demo ORDER BY id LIMIT 1")[0][0]
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE signals SET situation_id = :situation WHERE id = :signal"),
            {"situation": demo_situation, "signal": real_signal},
        )
    with session_scope() as session, pytest.raises(PurgeRefused, match=demo_situation):
        purge(session, NOW)
    assert rows("SELECT count(*) FROM signals WHERE demo") == [(150,)]

    with get_engine().begin() as connection:  # the real household leaves: only the demo is left
        for table in MARKED:
            connection.execute(text(f"DELETE FROM {table} WHERE NOT demo"))
    with session_scope() as session:
        gone = purge(session, NOW)
        session.commit()
    assert gone.days_recomputed == 0 and gone.days_cleared == 181
    for table in (*MARKED, "stats_daily"):
        assert rows(f"SELECT count(*) FROM {table}") == [(0,)], table
    assert figures()["signals_received"] == 0


def test_the_command_refuses_a_real_database_and_purges_with_a_french_summary() -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["demo"])
    assert missing.exit_code == 2 and "--semester et --signals sont requis" in missing.output
    real_situation(datetime.fromisoformat("2026-01-03T21:00:00+01:00"))
    refused = runner.invoke(app, ["demo", "--semester", "2026-S1", "--signals", "20"])
    assert refused.exit_code == 2, refused.output
    assert "ne viennent pas de la démonstration" in refused.output and "--force" in refused.output
    assert rows("SELECT count(*) FROM signals") == [(1,)]
    purged = runner.invoke(app, ["demo", "--purge"])
    assert purged.exit_code == 0, purged.output
    assert "démonstration retirée : 0 signalements, 0 situations" in purged.output
    assert rows("SELECT count(*) FROM signals WHERE NOT demo") == [(1,)]
