"""Semester statistics on a small fixed dataset built through the real intake, routing and state machine, with
every figure computed by hand (including semester boundaries at Paris midnight, across DST)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, col, select

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.decisions import DecisionContext
from services.core.models import DailyRollup, MonthlyRollup, TodayRollup
from services.core.outbox import QUEUE_MAINTENANCE, ROLLUP_TODAY
from services.core.procedures import seed_book
from services.core.signals.intake import accept_signal
from services.core.signals.schemas import SignalIn
from services.core.situations.orientation import orient_signal
from services.core.stats.export import from_csv, lines
from services.core.stats.figures import VARIANTS, semester_report
from services.core.stats.rollups import by_month, days_to_roll, refresh_stale_months, roll_day, roll_days
from services.core.stats.semesters import Semester, paris_day, paris_midnight
from services.core.stats.tally import open_at, open_at_ends, tally_days
from services.core.stats.today import MAX_AGE, roll_today
from services.core.territory import default_map
from services.demo.driver import Driver
from services.demo.places import grid_points
from services.workers.celery_app import celery_app
from services.workers.tasks import rollup_closed_days, rollup_today
from tests.integration.conftest import TokenFactory

NOW = datetime.fromisoformat("2026-07-15T12:00:00+02:00")
S1, S2, PREVIOUS = Semester(2026, 1), Semester(2026, 2), Semester(2025, 2)
FAMILY = {"adults": 2, "children": 2, "adult_genders": ["female", "male"], "adult_age_bands": ["26-59", "26-59"]}
MAN = {"adults": 1, "adult_genders": ["male"], "adult_age_bands": ["26-59"]}
WOMAN = {"adults": 1, "adult_genders": ["female"], "adult_age_bands": ["26-59"]}
MINOR = {"unaccompanied_minors": 1}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def dataset() -> dict[str, str]:
    """The situations by name (see each line for what happens to it)."""
    p13, p5, p3 = (iter(grid_points(default_map(), n)) for n in (13, 5, 3))
    with session_scope() as session:
        d = Driver(session, seed_book(), default_map())
        ids: dict[str, str] = {}

        def opened(name: str, when: datetime, **kwargs: Any) -> str:
            _, situation = d.signal(when, **kwargs)
            assert situation is not None
            ids[name] = situation
            return situation

        # 2025-S2, last minutes of the year in Paris (+01:00): a woman alone in Paris Centre (FR07).
        opened("c", t("2025-12-31T23:50:00+01:00"), source="sante", people=WOMAN, point=next(p3))
        # 2026-S1 from its first minutes: a family (FR01), taken in hand at +10, met at +60, sheltered at +120.
        a = opened("a", t("2026-01-01T00:05:00+01:00"), source="maraude", people=FAMILY, point=next(p13))
        d.acknowledge(a, t("2026-01-01T00:15:00+01:00"))
        d.contact(a, t("2026-01-01T01:05:00+01:00"))
        d.resolve(a, t("2026-01-01T02:05:00+01:00"), "sheltered")
        # A man alone (FR00), a second report an hour later joins; taken in hand at +30, oriented at +300, no contact.
        b_point = next(p13)
        b = opened("b", t("2026-03-10T10:00:00+01:00"), source="riverain", people=MAN, point=b_point)
        _, joined = d.signal(t("2026-03-10T11:00:00+01:00"), source="mairie", people=MAN, point=b_point)
        assert joined == b
        d.acknowledge(b, t("2026-03-10T10:30:00+01:00"))
        d.resolve(b, t("2026-03-10T15:00:00+01:00"), "oriented")
        # An unaccompanied minor in the 5th (FR03, MUS): escalated by hand, met at +50, every deadline met.
        m = opened("m", t("2026-05-05T08:00:00+02:00"), source="police", people=MINOR, point=next(p5))
        d.acknowledge(m, t("2026-05-05T08:20:00+02:00"))
        d.escalate(m, t("2026-05-05T08:30:00+02:00"))
        d.contact(m, t("2026-05-05T08:50:00+02:00"))
        d.resolve(m, t("2026-05-05T18:00:00+02:00"), "sheltered")
        # Out of Paris: a signal, no situation.
        _, nowhere = d.signal(t("2026-02-01T12:00:00+01:00"), source="partenaire", people=MAN, postcode="93200")
        assert nowhere is None
        # Half an hour before the end of S1 (+02:00): a family, taken in hand at 00:00 on 1 July (an S2 day).
        f = opened("f", t("2026-06-30T23:30:00+02:00"), source="maraude", people=FAMILY, point=next(p13))
        d.acknowledge(f, t("2026-07-01T00:00:00+02:00"))
        # Ten minutes into S2: a man alone, nothing done since.
        opened("g", t("2026-07-01T00:10:00+02:00"), source="riverain", people=MAN, point=next(p13))
        session.commit()
    return ids


def report(semester: Semester, sector: str | None = None, variant: str = "internal", now: datetime = NOW) -> Any:
    with session_scope() as session:
        return report_in(session, semester, sector, variant, now)


def report_in(session: Session, semester: Semester, sector: str | None, variant: str, now: datetime = NOW) -> Any:
    return semester_report(
        session, semester, sector=sector, variant=variant, now=now, threshold=5, fiche_codes=seed_book().codes
    )


def from_scratch(semester: Semester, sector: str | None = None, variant: str = "internal") -> Any:
    """The same report with no rollup at all (every day computed from the tables), in a transaction undone."""
    with session_scope() as session:
        session.execute(text("DELETE FROM stats_monthly"))
        session.execute(text("DELETE FROM stats_daily"))
        figures = report_in(session, semester, sector, variant)
        session.rollback()
        return figures


def nonzero(breakdown: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in breakdown.items() if value != 0}


def test_first_semester_for_all_paris(dataset: dict[str, str]) -> None:
    figures = report(S1)
    assert figures["semester"] == "2026-S1" and figures["complete"] is True
    assert figures["period"] == {"start": "2025-12-31T23:00:00Z", "end": "2026-06-30T22:00:00Z"}
    assert figures["signals_received"] == 6  # a, b twice, m, out of Paris, f
    assert nonzero(figures["by_source"]) == {"maraude": 2, "riverain": 1, "mairie": 1, "police": 1, "partenaire": 1}
    assert figures["situations_opened"] == 4
    assert nonzero(figures["by_fiche"]) == {"FR01": 2, "FR00": 1, "FR03": 1}
    assert set(figures["by_fiche"]) == set(seed_book().codes)
    assert nonzero(figures["by_sector"]) == {"paris-13": 3, "paris-05": 1}
    assert len(figures["by_sector"]) == 17
    assert figures["situations_resolved"] == 3
    assert nonzero(figures["by_outcome"]) == {"sheltered": 2, "oriented": 1}
    assert figures["open_at_end"] == 2  # c (still open since December) and f, opened at 23:30 on 30 June
    assert figures["escalations"] == 1
    # Taken in hand in S1: a +10, b +30, m +20 (f's was on 1 July). percentile_cont: p90 at rank 1.8.
    assert figures["time_to_ack"] == {"count": 3, "median_minutes": 20.0, "p90_minutes": 28.0}
    assert figures["time_to_contact"] == {"count": 2, "median_minutes": 55.0, "p90_minutes": 59.0}
    # Above 64 minutes durations are read from bins 1/32 of a doubling wide (stats.histograms): a +120 is in
    # [120, 121] (value 120.5), b +300 in [296, 303] (299.5), m +600 in [592, 607] (599.5).
    assert figures["time_to_resolve"] == {"count": 3, "median_minutes": 299.5, "p90_minutes": 539.5}
    # Due in S1: a, b, m, and c (received 23:50 on 31 December, due from 01:50 on 1 January, never handled);
    # b had no contact within its 3 days. f's deadlines fall in S2.
    assert figures["deadlines_due"] == {"ack": 4, "contact": 4, "resolve": 4}
    assert figures["deadlines_met"] == {"ack": 0.75, "contact": 0.5, "resolve": 0.75}


def test_one_sector_and_the_boundaries(dataset: dict[str, str]) -> None:
    figures = report(S1, "paris-13")
    assert figures["signals_received"] == 4 and figures["situations_opened"] == 3
    assert nonzero(figures["by_fiche"]) == {"FR01": 2, "FR00": 1}
    assert figures["by_sector"] == {"paris-13": 3}
    assert nonzero(figures["by_outcome"]) == {"sheltered": 1, "oriented": 1}
    assert figures["escalations"] == 0 and figures["open_at_end"] == 1
    assert figures["time_to_ack"] == {"count": 2, "median_minutes": 20.0, "p90_minutes": 28.0}
    assert figures["time_to_resolve"] == {"count": 2, "median_minutes": 210.0, "p90_minutes": 281.6}

    previous = report(PREVIOUS)  # 23:50 on 31 December (+01:00) is still 2025-S2
    assert previous["signals_received"] == 1 and nonzero(previous["by_fiche"]) == {"FR07": 1}
    assert previous["open_at_end"] == 1

    current = report(S2)  # from 00:10 on 1 July (+02:00), as of NOW
    assert current["complete"] is False
    assert current["signals_received"] == 1 and nonzero(current["by_source"]) == {"riverain": 1}
    assert nonzero(current["by_fiche"]) == {"FR00": 1}
    assert current["open_at_end"] == 3  # open now: c, f and g
    assert current["time_to_ack"] == {"count": 1, "median_minutes": 30.0, "p90_minutes": 30.0}
    # f: ack due 00:30 met, contact and resolve missed; g (FR00): nothing done, all three due by NOW.
    assert current["deadlines_due"] == {"ack": 2, "contact": 2, "resolve": 2}
    assert current["deadlines_met"] == {"ack": 0.5, "contact": 0.0, "resolve": 0.0}
    # Before the signal of 00:10 was received, S2 had nothing.
    early = report(S2, now=t("2026-07-01T00:05:00+02:00"))
    assert early["signals_received"] == 0 and early["situations_opened"] == 0


def test_an_opening_counts_on_the_day_its_signal_was_received_even_routed_after_midnight() -> None:
    received, routed = t("2026-03-10T23:58:00+01:00"), t("2026-03-11T00:03:00+01:00")
    lat, lon = next(iter(grid_points(default_map(), 13)))
    payload = SignalIn.model_validate(
        {"observed_at": received.isoformat(), "location": {"lat": lat, "lon": lon}, "source": "maraude", "people": MAN}
    )
    with session_scope() as session:
        at = {when: DecisionContext(when, seed_book(), default_map()) for when in (received, routed)}
        accepted = accept_signal(session.connection(), payload, submitted_by="test", context=at[received])
        orientation = orient_signal(session, accepted.response["id"], context=at[routed])
        assert orientation is not None and orientation.situation_id is not None
        Driver(session, seed_book(), default_map()).acknowledge(orientation.situation_id, routed + minutes(7))
        days = tally_days(session, paris_midnight(date(2026, 3, 10)), paris_midnight(date(2026, 3, 12)), NOW)
        session.rollback()
    before, after = days[(date(2026, 3, 10), "paris-13")], days[(date(2026, 3, 11), "paris-13")]
    assert before.counts["signals_received"] == before.counts["situations_opened"] == 1
    assert "situations_opened" not in after.counts
    assert after.durations["ack"] == {12: 1}  # from the reception, like the deadlines, not from the routing


def test_rollups_equal_live_computation_and_replays_change_nothing(dataset: dict[str, str]) -> None:
    live = {(s, sector): report(s, sector) for s in (PREVIOUS, S1, S2) for sector in (None, "paris-13", "paris-05")}
    with session_scope() as session:
        days = days_to_roll(session, NOW, reroll_days=3, limit=1000)
        assert days[0] == date(2025, 12, 31) and days[-1] == date(2026, 7, 14) and len(days) == 196
        for day in days:
            roll_day(session, day, NOW)
        session.commit()
        first = {(r.day, r.sector): (r.counts, r.durations, r.open_at_end) for r in session.exec(select(DailyRollup))}
        # Replayed (the task delivered twice): the same rows, not doubled.
        for day in days_to_roll(session, NOW, reroll_days=200, limit=1000):
            roll_day(session, day, NOW)
        session.commit()
        again = {(r.day, r.sector): (r.counts, r.durations, r.open_at_end) for r in session.exec(select(DailyRollup))}
        assert again == first
        assert days_to_roll(session, NOW, reroll_days=3, limit=1000) == [date(2026, 7, d) for d in (12, 13, 14)]
    assert first[(date(2026, 6, 30), "*")][0]["signals_received"] == 1
    assert first[(date(2026, 7, 1), "paris-13")][0] == {
        "done:ack": 1,
        "due:ack": 1,
        "due:contact": 1,
        "due:resolve": 1,
        "fiche:FR00": 1,
        "met:ack": 1,
        "signals_received": 1,
        "situations_opened": 1,
        "source:riverain": 1,
    }
    for key, figures in live.items():
        assert report(*key) == figures, key


def roll_up(now: datetime, reroll_days: int = 3) -> list[date]:
    with session_scope() as session:
        days = days_to_roll(session, now, reroll_days=reroll_days, limit=1000)
        for day in days:
            roll_day(session, day, now)
        session.commit()
    return days


def test_merged_months_give_the_figures_of_the_tables_even_after_a_late_event(dataset: dict[str, str]) -> None:
    scopes = [(s, sector, v) for s in (PREVIOUS, S1, S2) for sector in (None, "paris-13", "paris-05") for v in VARIANTS]
    roll_up(NOW)
    with session_scope() as session:
        merged = session.exec(select(MonthlyRollup).where(col(MonthlyRollup.sector) == "*")).all()
        assert sorted(m.month for m in merged) == [date(2025, 12, 1)] + [date(2026, n, 1) for n in range(1, 8)]
        assert refresh_stale_months(session, NOW) == 0  # each merge is built from exactly its month's days
        # The merges are what a semester reads: a change made to one (undone here) shows in the figures.
        session.execute(
            text(
                "UPDATE stats_monthly SET counts = counts || '{\"escalations\": 40}'"
                " WHERE month = '2026-03-01' AND sector = 'paris-13'"
            )
        )
        assert report_in(session, S1, None, "internal")["escalations"] == 41
        session.rollback()
    for scope in scopes:
        assert report(*scope) == from_scratch(*scope), scope

    # A late event: a contact with g on 14 July, logged after that day was rolled up (and merged into July).
    before = report(S2)
    with session_scope() as session:
        Driver(session, seed_book(), default_map()).contact(dataset["g"], t("2026-07-14T09:00:00+02:00"))
        session.commit()
    assert report(S2) == before  # the closed day's rollup holds until it is recomputed
    assert from_scratch(S2)["time_to_contact"]["count"] == before["time_to_contact"]["count"] + 1
    assert date(2026, 7, 14) in roll_up(NOW)  # the task recomputes the last days, and their month
    for scope in scopes:
        assert report(*scope) == from_scratch(*scope), scope

    # A day's rollup removed behind the month's back (as the demo's purge does): the month is read day by day,
    # the day computed live, until the month is merged again.
    with session_scope() as session:
        session.execute(text("DELETE FROM stats_daily WHERE day = '2026-03-10'"))
        session.commit()
    for scope in scopes:
        assert report(*scope) == from_scratch(*scope), scope
    with session_scope() as session:
        assert refresh_stale_months(session, NOW) == 1
        session.commit()
    for scope in scopes:
        assert report(*scope) == from_scratch(*scope), scope


def rollup_rows(session: Session) -> dict[tuple[date, str], Any]:
    return {(r.day, r.sector): (r.counts, r.durations, r.open_at_end) for r in session.exec(select(DailyRollup))}


def test_a_month_rolled_up_at_once_equals_its_days_rolled_up_one_by_one(dataset: dict[str, str]) -> None:
    days = S1.days() + [date(2026, 7, d) for d in range(1, 15)]
    with session_scope() as session:
        for day in days:
            roll_day(session, day, NOW)
        one_by_one = {
            (r.day, r.sector): (r.counts, r.durations, r.open_at_end) for r in session.exec(select(DailyRollup))
        }
        for month in by_month(days):
            roll_days(session, month, NOW)
        assert rollup_rows(session) == one_by_one
        # One pass over the situations gives what `open_at` counts at the end of each day.
        ends = open_at_ends(session, days)
        assert ends == {day: open_at(session, paris_midnight(day + timedelta(days=1))) for day in days}
        assert ends[date(2026, 6, 30)] == {"paris-13": 1, "paris-centre": 1}  # f, and c since December
        session.rollback()


def test_past_semesters_are_frozen(dataset: dict[str, str]) -> None:
    later = t("2026-11-01T12:00:00+01:00")
    before = report(S1, now=later)
    with session_scope() as session:
        for day in days_to_roll(session, later, reroll_days=3, limit=1000):
            roll_day(session, day, later)
        session.commit()
    with session_scope() as session:  # a late change to a situation opened in S1 (a correction)
        d = Driver(session, seed_book(), default_map())
        d.contact(dataset["f"], t("2026-11-01T11:00:00+01:00"))
        d.resolve(dataset["f"], t("2026-11-01T11:30:00+01:00"), "left_area")
        session.commit()
    assert report(S1, now=later) == before
    with session_scope() as session:
        assert days_to_roll(session, later, reroll_days=3, limit=1000) == [date(2026, 10, d) for d in (29, 30, 31)]


def test_rollup_task_writes_each_closed_day(dataset: dict[str, str]) -> None:
    assert rollup_closed_days() > 0  # run in-process: the task body, with the real clock (after these dates)
    assert rollup_closed_days() == 3  # then only the last few days again
    with session_scope() as session:
        days = set(session.exec(select(col(DailyRollup.day)).where(col(DailyRollup.sector) == "*")).all())
    assert date(2025, 12, 31) in days and date(2026, 7, 1) in days


def live_only(semester: Semester, sector: str | None, variant: str, now: datetime) -> Any:
    """The report with no rollup of the day in progress (today computed live whole), in a transaction undone."""
    with session_scope() as session:
        session.execute(text("DELETE FROM stats_today"))
        figures = report_in(session, semester, sector, variant, now)
        session.rollback()
        return figures


def test_the_day_so_far_and_what_came_since_make_the_live_day(dataset: dict[str, str]) -> None:
    now = t("2026-07-15T12:00:00+02:00")
    cut = now - minutes(3)  # the scheduler's last run
    p13 = iter(grid_points(default_map(), 13))
    with session_scope() as session:
        d = Driver(session, seed_book(), default_map())
        # Today before the cut: a family opened at 08:00, taken in hand at 08:20, met at 10:00; a man at 09:00,
        # whose deadline to be taken in hand falls due before the cut, missed.
        _, family = d.signal(t("2026-07-15T08:00:00+02:00"), source="maraude", people=FAMILY, point=next(p13))
        _, man = d.signal(t("2026-07-15T09:00:00+02:00"), source="riverain", people=MAN, point=next(p13))
        assert family is not None and man is not None
        d.acknowledge(family, t("2026-07-15T08:20:00+02:00"))
        d.contact(family, t("2026-07-15T10:00:00+02:00"))
        # Written now, before the run, but at instants after the cut: the live part counts them.
        d.resolve(family, t("2026-07-15T11:58:00+02:00"), "sheltered")
        _, woman = d.signal(t("2026-07-15T11:59:00+02:00"), source="police", people=WOMAN, point=next(p13))
        assert woman is not None
        session.commit()
    roll_up(now)
    scopes = [(sector, variant) for sector in (None, "paris-13", "paris-05") for variant in VARIANTS]
    whole_day = {scope: live_only(S2, *scope, now) for scope in scopes}
    with session_scope() as session:
        assert roll_today(session, cut) > 1
        session.commit()
    with session_scope() as session:
        rows = {r.sector: r for r in session.exec(select(TodayRollup))}
        assert {r.until for r in rows.values()} == {cut} and {r.day for r in rows.values()} == {date(2026, 7, 15)}
        assert rows["*"].counts["signals_received"] == 2 and "situations_resolved" not in rows["*"].counts
    for scope in scopes:
        assert report(S2, *scope, now=now) == whole_day[scope], scope
    assert whole_day[(None, "internal")]["signals_received"] == 4  # g on July 1st, three today
    assert whole_day[(None, "internal")]["situations_resolved"] == 1

    # The rollup is what is read: a change made to it (undone here) shows in the figures while it is recent,
    # and no longer once it is older than MAX_AGE (the scheduler stopped): the whole day is then live again.
    later = cut + MAX_AGE + minutes(1)
    live_later = live_only(S2, None, "internal", later)
    with session_scope() as session:
        session.execute(
            text("UPDATE stats_today SET counts = counts || '{\"escalations\": 40}' WHERE sector = 'paris-13'")
        )
        assert report_in(session, S2, None, "internal", now)["escalations"] == 40
        assert report_in(session, S2, None, "internal", later) == live_later
        session.rollback()

    # The next run replaces the last one, and yesterday's rows go at midnight's first run.
    with session_scope() as session:
        roll_today(session, now)
        session.commit()
        assert {r.until for r in session.exec(select(TodayRollup))} == {now}
        roll_today(session, t("2026-07-16T00:01:00+02:00"))
        session.commit()
        assert {(r.day, r.sector) for r in session.exec(select(TodayRollup))} == {(date(2026, 7, 16), "*")}
    for scope in scopes:
        assert report(S2, *scope, now=now) == whole_day[scope], scope


def test_the_day_so_far_task_writes_today_and_is_in_the_beat_schedule(dataset: dict[str, str]) -> None:
    assert rollup_today() >= 1  # run in-process: the task body, with the real clock
    with session_scope() as session:
        (row,) = session.exec(select(TodayRollup).where(col(TodayRollup.sector) == "*")).all()
    assert row.day == paris_day(utc_now()) and utc_now() - row.until < timedelta(minutes=1)
    entry = celery_app.conf.beat_schedule["rollup-today"]
    assert entry["task"] == ROLLUP_TODAY and entry["schedule"] == timedelta(seconds=60)
    assert celery_app.conf.task_routes[ROLLUP_TODAY] == {"queue": QUEUE_MAINTENANCE}


def test_semester_bounds_in_paris_time() -> None:
    assert S1.start == paris_midnight(date(2026, 1, 1)) and S1.start.utcoffset() == timedelta(hours=1)
    assert S1.end.utcoffset() == timedelta(hours=2) and S1.end == S2.start
    assert Semester.of(t("2026-06-30T23:30:00+02:00")) == S1
    assert Semester.of(t("2026-06-30T22:10:00+00:00")) == S2  # 00:10 in Paris
    assert Semester.of(t("2025-12-31T23:50:00+01:00")) == PREVIOUS
    assert Semester.of(t("2025-12-31T23:10:00+00:00")) == S1
    assert S1.previous() == PREVIOUS and PREVIOUS.previous() == Semester(2025, 1)


def stats(client: TestClient, headers: dict[str, str], path: str = "/v1/stats/semesters/2026-S1", **params: str) -> Any:
    return client.get(path, params=params, headers=headers)


def test_who_may_read_which_scope(client: TestClient, token: TokenFactory, dataset: dict[str, str]) -> None:
    analyst, admin, mus = token("analyst"), token("admin"), token("coordinator", leads=["mus"])
    eps13, cavs_sud = token("coordinator", leads=["eps:paris-13"]), token("coordinator", leads=["cavs:sud"])
    assert stats(client, {}).status_code == 401
    assert stats(client, token("outreach")).status_code == 403
    for who in (analyst, admin, mus):
        assert stats(client, who).status_code == 200
        assert stats(client, who, sector="paris-11").status_code == 200
    assert stats(client, eps13).status_code == 403
    assert stats(client, eps13, sector="paris-13").status_code == 200
    assert stats(client, eps13, sector="paris-05").status_code == 403
    assert stats(client, cavs_sud, sector="paris-05").status_code == 200  # sud: 5, 13, 14, 15
    assert stats(client, cavs_sud, sector="paris-11").status_code == 403
    assert stats(client, cavs_sud).status_code == 403
    # Exact counts for the MUS and admins; analysts and sector coordinators get the published variant only.
    assert stats(client, mus).json()["variant"] == "internal"
    assert stats(client, admin, variant="published").json()["variant"] == "published"
    assert stats(client, analyst).json()["variant"] == "published"
    assert stats(client, analyst, variant="internal").status_code == 403
    assert stats(client, eps13, sector="paris-13", variant="internal").status_code == 403
    bad = stats(client, admin, "/v1/stats/semesters/2026-S3")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "semester"
    assert stats(client, admin, sector="paris-99").status_code == 422


def test_api_answers_the_core_figures_and_csv_is_the_json(
    client: TestClient, token: TokenFactory, dataset: dict[str, str]
) -> None:
    admin = token("admin")
    answer = stats(client, admin)
    assert answer.status_code == 200
    figures = answer.json()
    assert figures["signals_received"] == 6 and figures["time_to_resolve"]["median_minutes"] == 299.5
    for variant in ("internal", "published"):
        json_figures = stats(client, admin, variant=variant, sector="paris-13").json()
        csv_answer = stats(client, admin, variant=variant, sector="paris-13", format="csv")
        assert csv_answer.headers["content-type"].startswith("text/csv")
        table = from_csv(csv_answer.text)["2026-S1"]
        expected = {(name, key): "" if value is None else str(value) for name, key, value in lines(json_figures)}
        assert table == expected


def test_published_figures_hide_small_counts(client: TestClient, token: TokenFactory, dataset: dict[str, str]) -> None:
    figures = stats(client, token("analyst")).json()
    assert figures["threshold"] == 5
    assert figures["signals_received"] == 6  # 6 ≥ 5: shown
    # Every count of 1 to 4 is hidden, and the one cell left in a line is hidden with it.
    assert figures["situations_opened"] == "secret" and figures["by_fiche"]["FR01"] == "secret"
    assert figures["by_fiche"]["FR14"] == 0  # zeros are shown
    assert figures["by_source"]["maraude"] == "secret"
    assert figures["time_to_ack"] == {"count": "secret", "median_minutes": None, "p90_minutes": None}
    assert figures["deadlines_met"]["ack"] is None and figures["deadlines_due"]["ack"] == "secret"
    text = stats(client, token("analyst"), format="csv").text
    assert "free" not in text and "Famille" not in text
