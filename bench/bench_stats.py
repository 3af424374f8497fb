"""Semester statistics over a large database: `uv run python bench/bench_stats.py [--signals N] [--runs R]`.

Creates (or reuses with --reuse, rollups included) the database `--database` (`urgence_bench`) on the server of
URGENCE_DATABASE_URL, migrates it, bulk-loads N signals of one semester (2026-S1) with COPY, with plausible
situations (80 % of signals open one, the others join one) and their `opened` and `escalated` events, rolls up
every closed day (timed), then times `semester_report` in this process (wall and CPU time, p50 / p95 in ms):
all Paris and paris-18, internal and published, on a warm connection and on a new one each time; then the same
requests through the real API (one uvicorn process reporting its own wall and CPU time per answer), the
dashboard page, and the semester in progress: today computed live whole, then as the product runs it (the day
rolled up a minute before, by `stats.today.roll_today`, timed; the last minute live). `--live` also times the
path with no rollup at all (minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from services.core.db import make_engine, session_scope, sqlalchemy_url
from services.core.migrations import upgrade_to_head
from services.core.procedures import seed_book
from services.core.settings import get_settings
from services.core.stats.figures import semester_report
from services.core.stats.rollups import by_month, refresh_stale_months, roll_days
from services.core.stats.semesters import Semester, paris_midnight
from services.core.stats.today import roll_today
from services.core.territory import SECTORS, sector_of

SEMESTER = Semester(2026, 1)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CURRENT = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # "now" for the semester in progress
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FICHES = (("FR00", 40), ("FR01", 18), ("FR07", 8), ("FR10", 6), ("FR09", 5), ("FR06", 5), ("FR13", 4), ("FR11", 4),
          ("FR03", 3), ("FR08", 2), ("FR04", 2), ("FR12", 1), ("FR02", 1), ("FR05", 1), ("FR14", 1))  # fmt: skip
SOURCES = (("maraude", 40), ("riverain", 15), ("numero_115", 12), ("partenaire", 10), ("mairie", 8),
           ("police", 5), ("sante", 5), ("transport", 3), ("autre", 2))  # fmt: skip
OUTCOMES = (("sheltered", 30), ("oriented", 22), ("not_found", 12), ("refused", 10), ("already_supported", 10),
            ("hospitalized", 7), ("left_area", 5), ("other", 3), ("deceased", 1))  # fmt: skip
ARRONDISSEMENTS = {1: 2, 2: 1.5, 3: 1.5, 4: 2, 5: 2, 6: 1.5, 7: 1, 8: 2, 9: 2.5, 10: 6, 11: 5, 12: 5, 13: 5,
                   14: 3.5, 15: 3, 16: 1.5, 17: 3, 18: 9, 19: 8, 20: 6}  # fmt: skip


def _choice(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]


def load(url: str, count: int, seed: int) -> None:
    """Bulk-load `count` signals of SEMESTER with COPY (signals, situations, events)."""
    rng = random.Random(seed)
    book = seed_book()
    deadlines = {code: book.fiche(code).deadlines for code in book.codes}
    leads = {code: book.fiche(code).lead for code in book.codes}
    start, seconds = SEMESTER.start, (SEMESTER.end - SEMESTER.start).total_seconds()
    numbers, weights = list(ARRONDISSEMENTS), list(ARRONDISSEMENTS.values())
    received = sorted(start + timedelta(seconds=seconds * (rng.random() ** 1.15)) for _ in range(count))
    open_by_sector: dict[str, list[tuple[str, datetime]]] = {s: [] for s in SECTORS}
    plain = sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as connection, connection.cursor() as cursor:
        signal_rows: list[tuple[Any, ...]] = []
        situation_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        for at in received:
            arrondissement = rng.choices(numbers, weights=weights)[0]
            sector = sector_of(arrondissement)
            recent = open_by_sector[sector]
            signal_id = str(uuid.uuid4())
            if recent and rng.random() < 0.2 and at - recent[-1][1] < timedelta(hours=72):
                situation_id = rng.choice(recent[-5:])[0]
            else:
                situation_id = str(uuid.uuid4())
                recent.append((situation_id, at))
                del recent[:-50]
                fiche = _choice(rng, FICHES)
                ack, contact, resolve = deadlines[fiche]
                acked = at + ack * rng.uniform(0.05, 1.3) if rng.random() < 0.95 else None
                contacted = at + contact * rng.uniform(0.1, 1.3) if rng.random() < 0.8 else None
                resolved = at + resolve * rng.uniform(0.05, 1.2) if rng.random() < 0.9 else None
                resolved = None if resolved is not None and resolved > NOW else resolved
                status = (
                    "resolved" if resolved else ("in_progress" if contacted else ("acknowledged" if acked else "new"))
                )
                kind = leads[fiche]
                lead = "mus" if kind == "mus" else (f"eps:{sector}" if kind == "eps" else "cavs:nord")
                situation_rows.append(
                    (situation_id, status, at, at, resolved or at, arrondissement, sector, lead, fiche, "{}", "{}",
                     at + ack, at + contact, at + resolve, acked, contacted, resolved,
                     _choice(rng, OUTCOMES) if resolved else None, 0, "{}", 1, at)
                )  # fmt: skip
                event_rows.append((situation_id, at, "opened", "system", json.dumps({"signal_id": signal_id})))
                if rng.random() < 0.06:
                    event_rows.append((situation_id, at + ack, "escalated", "system", '{"reason": "ack_overdue"}'))
            people = json.dumps({"adults": 1, "children": 0, "unaccompanied_minors": 0})
            signal_rows.append(
                (signal_id, at, at, _choice(rng, SOURCES), people, "{}", "routed", arrondissement, sector,
                 situation_id, at)
            )  # fmt: skip
        with cursor.copy(
            "COPY signals (id, received_at, observed_at, source, people, flags, status, arrondissement, sector,"
            " situation_id, routed_at) FROM STDIN"
        ) as copy:
            for row in signal_rows:
                copy.write_row(row)
        with cursor.copy(
            "COPY situations (id, status, opened_at, opening_received_at, updated_at, arrondissement, sector, lead,"
            " primary_fiche, decision, facts, ack_due, contact_due, resolve_due, acknowledged_at, first_contact_at,"
            " resolved_at, outcome, escalation_level, escalation_reasons, signal_count, last_observed_at) FROM STDIN"
        ) as copy:
            for row in situation_rows:
                copy.write_row(row)
        with cursor.copy("COPY events (situation_id, at, type, actor, data) FROM STDIN") as copy:
            for row in event_rows:
                copy.write_row(row)
        connection.commit()
        # What autovacuum does soon after in service: statistics, and the visibility map that lets the count of
        # open situations read its partial index alone.
        connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
        print(
            f"chargé : {len(signal_rows)} signalements, {len(situation_rows)} situations, {len(event_rows)} événements"
        )


def timed(engine: Engine | None, runs: int, now: datetime = NOW, **kwargs: Any) -> list[tuple[float, float]]:
    """(wall, CPU of this process) milliseconds of each of `runs` reports."""
    laps = []
    codes = seed_book().codes
    for _ in range(runs):
        own = make_engine(get_settings().require_database_url(), 1) if engine is None else engine
        began, cpu = time.perf_counter(), time.process_time()
        with session_scope(own) as session:
            semester_report(session, SEMESTER, now=now, threshold=5, fiche_codes=codes, **kwargs)
        laps.append(((time.perf_counter() - began) * 1000, (time.process_time() - cpu) * 1000))
        if engine is None:
            own.dispose()
    return laps


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summary(name: str, laps: list[tuple[float, float]]) -> None:
    wall, cpu = [lap[0] for lap in laps], [lap[1] for lap in laps]
    print(
        f"{name:<52} n={len(laps):<4} p50 {statistics.median(wall):7.1f} ms  p95 {p95(wall):7.1f} ms"
        f" | CPU p50 {statistics.median(cpu):6.1f} ms  p95 {p95(cpu):6.1f} ms",
        flush=True,
    )


def roll_missing(engine: Engine, now: datetime) -> int:
    """Roll up the closed days of SEMESTER that have no rollup yet, a month per transaction like the task;
    returns how many."""
    with session_scope(engine) as session:
        rolled = set(session.execute(text("SELECT day FROM stats_daily WHERE sector = '*'")).scalars())
        days = [d for d in SEMESTER.days() if d not in rolled and paris_midnight(d + timedelta(days=1)) <= now]
        for month in by_month(days):
            roll_days(session, month, now)
            session.commit()
    return len(days)


def through_the_api(url: str, runs: int) -> None:
    """The same reports through the real API (one uvicorn process, which reports its own wall and CPU time per
    answer in `Server-Timing`, see bench_pages.timed_app), with a private Redis."""
    import httpx

    from bench.bench_pages import server_times, spawn
    from services.core.access.tokens import create_token
    from services.core.territory import default_map
    from services.launcher.embedded import redis_server_executable
    from tests.support.stack import free_port, kill_group
    from tests.support.waiting import wait_for

    workdir = ROOT / "bench" / "results"
    workdir.mkdir(parents=True, exist_ok=True)
    redis_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "URGENCE_DATABASE_URL": url,
        "URGENCE_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "URGENCE_DATA_DIR": str(workdir),
        "URGENCE_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    broker = [str(redis_server_executable()), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    server = [sys.executable, "-m", "uvicorn", "bench.bench_pages:timed_app", "--factory", "--port", str(port),
              "--log-level", "warning"]  # fmt: skip
    with session_scope(make_engine(url, 1)) as session:
        secret = create_token(session, role="admin", leads=[], territory_map=default_map(), name="banc-stats")
        session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    processes = [spawn(broker, env, workdir / "stats-redis.log")]
    try:
        processes.append(spawn(server, env, workdir / "stats-api.log"))
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/v1/stats/semesters/{SEMESTER}", headers=headers, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=60, what="l'API")
        path = f"/v1/stats/semesters/{SEMESTER}"
        for label, query in (
            ("API, tout Paris, internal", "?variant=internal"),
            ("API, tout Paris, published", "?variant=published"),
            ("API, paris-18, internal", "?variant=internal&sector=paris-18"),
            ("API, paris-18, published", "?variant=published&sector=paris-18"),
            ("page /dashboards (deux semestres), internal", "?variant=internal"),
        ):
            target = f"/dashboards/{SEMESTER}{query}" if label.startswith("page") else f"{path}{query}"
            summary(f"{label} (temps serveur)", server_times(base, headers, target, runs))
    finally:
        for process in processes:
            kill_group(process, signal.SIGTERM)


def in_progress(engine: Engine, runs: int, how: str) -> None:
    """The semester in progress at CURRENT, all Paris and paris-18, both variants."""
    timed(engine, 3, now=CURRENT, sector=None, variant="internal")  # warm-up
    for variant in ("internal", "published"):
        for sector in (None, "paris-18"):
            summary(
                f"semestre en cours ({how}), {sector or 'tout Paris'}, {variant}",
                timed(engine, runs, now=CURRENT, sector=sector, variant=variant),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", action="store_true", help="garder la base déjà chargée (et ses agrégats)")
    parser.add_argument("--database", default="urgence_bench", help="nom de la base de mesure")
    parser.add_argument("--live", action="store_true", help="mesurer aussi le calcul sans aucun agrégat (long)")
    parser.add_argument("--reroll", action="store_true", help="recalculer et chronométrer tous les agrégats")
    parser.add_argument("--no-api", action="store_true", help="ne pas mesurer à travers l'API")
    args = parser.parse_args()

    server = get_settings().require_database_url()
    base, _, _ = server.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + args.database
    plain_server = sqlalchemy_url(server).replace("postgresql+psycopg://", "postgresql://", 1)
    if not args.reuse:
        with psycopg.connect(plain_server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{args.database}"')
    upgrade_to_head(url)
    if not args.reuse:
        began = time.perf_counter()
        load(url, args.signals, args.seed)
        print(f"chargement : {time.perf_counter() - began:.1f} s")
    os.environ["URGENCE_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine = make_engine(url, 2)
    if args.live or args.reroll or not args.reuse:
        with session_scope(engine) as session:
            session.execute(text("TRUNCATE stats_daily, stats_monthly"))
            session.commit()
    if args.live:
        summary("sans agrégats (tout en direct), interne", timed(engine, 2, sector=None, variant="internal"))
    began, cpu = time.perf_counter(), time.process_time()
    rolled = roll_missing(engine, NOW)
    print(
        f"agrégation de {rolled} journées : {time.perf_counter() - began:.1f} s"
        f" (CPU de ce processus : {time.process_time() - cpu:.1f} s)",
        flush=True,
    )
    for variant in ("internal", "published"):
        timed(engine, 3, sector=None, variant=variant)  # warm-up
        summary(f"tout Paris, {variant}, connexion chaude", timed(engine, args.runs, sector=None, variant=variant))
        summary(f"tout Paris, {variant}, nouvelle connexion", timed(None, 10, sector=None, variant=variant))
        summary(f"paris-18, {variant}, connexion chaude", timed(engine, args.runs, sector="paris-18", variant=variant))
    if not args.no_api:
        through_the_api(url, args.runs)
    # The semester in progress: closed days from their rollups, today computed live (the days from today on
    # lose their rollup here; the next run rolls them up again).
    today = CURRENT.astimezone(SEMESTER.start.tzinfo).date()
    with session_scope(engine) as session:
        session.execute(text("DELETE FROM stats_daily WHERE day >= :today"), {"today": today})
        refresh_stale_months(session, NOW)
        session.execute(text("DELETE FROM stats_today"))
        session.commit()
    in_progress(engine, args.runs, "aujourd'hui en direct")
    # As it runs: the scheduler rolled the day up a minute ago (the task timed here), the last minute is live.
    with session_scope(engine) as session:
        began, cpu = time.perf_counter(), time.process_time()
        roll_today(session, CURRENT - timedelta(minutes=1))
        session.commit()
        print(
            f"agrégat du jour jusqu'à {CURRENT - timedelta(minutes=1):%H:%M} UTC : "
            f"{(time.perf_counter() - began) * 1000:.0f} ms (CPU de ce processus : "
            f"{(time.process_time() - cpu) * 1000:.0f} ms)",
            flush=True,
        )
    in_progress(engine, args.runs, "jour agrégé, dernière minute en direct")
    engine.dispose()


if __name__ == "__main__":
    main()
