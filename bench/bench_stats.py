"""Semester statistics over a large database: `uv run python bench/bench_stats.py [--signals N] [--runs R]`.

Creates (or reuses with --reuse) the database `urgence_bench` on the server of URGENCE_DATABASE_URL, migrates it,
bulk-loads N signals of one semester (2026-S1) with COPY, with plausible situations (80 % of signals open one,
the others join one) and their `opened` and `escalated` events, then times `semester_report` for all Paris:
- live: no rollup at all (every day computed from the tables), the path before the beat task has run;
- after rolling up every closed day (timed too): warm (same connection, repeated) and cold (a new engine and
  connection each time), for the internal and the published variant;
and prints p50 / p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from services.core.db import make_engine, session_scope, sqlalchemy_url
from services.core.migrations import upgrade_to_head
from services.core.procedures import seed_book
from services.core.settings import get_settings
from services.core.stats.figures import semester_report
from services.core.stats.rollups import roll_day
from services.core.stats.semesters import Semester, paris_midnight
from services.core.territory import SECTORS, sector_of

SEMESTER = Semester(2026, 1)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
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
                    (situation_id, status, at, resolved or at, arrondissement, sector, lead, fiche, "{}", "{}",
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
            "COPY situations (id, status, opened_at, updated_at, arrondissement, sector, lead, primary_fiche,"
            " decision, facts, ack_due, contact_due, resolve_due, acknowledged_at, first_contact_at, resolved_at,"
            " outcome, escalation_level, escalation_reasons, signal_count, last_observed_at) FROM STDIN"
        ) as copy:
            for row in situation_rows:
                copy.write_row(row)
        with cursor.copy("COPY events (situation_id, at, type, actor, data) FROM STDIN") as copy:
            for row in event_rows:
                copy.write_row(row)
        connection.commit()
        cursor.execute("ANALYZE")
        connection.commit()
        print(
            f"chargé : {len(signal_rows)} signalements, {len(situation_rows)} situations, {len(event_rows)} événements"
        )


def timed(engine: Engine | None, runs: int, **kwargs: Any) -> list[float]:
    laps = []
    codes = seed_book().codes
    for _ in range(runs):
        own = make_engine(get_settings().require_database_url(), 1) if engine is None else engine
        began = time.perf_counter()
        with session_scope(own) as session:
            semester_report(session, SEMESTER, now=NOW, threshold=5, fiche_codes=codes, **kwargs)
        laps.append((time.perf_counter() - began) * 1000)
        if engine is None:
            own.dispose()
    return laps


def summary(name: str, laps: list[float]) -> None:
    ordered = sorted(laps)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<48} n={len(laps):<4} p50 {statistics.median(laps):8.1f} ms   p95 {p95:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reuse", action="store_true", help="garder la base déjà chargée")
    args = parser.parse_args()

    server = get_settings().require_database_url()
    base, _, _ = server.partition("?")
    url = base.rsplit("/", 1)[0] + "/urgence_bench"
    plain_server = sqlalchemy_url(server).replace("postgresql+psycopg://", "postgresql://", 1)
    if not args.reuse:
        with psycopg.connect(plain_server, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS urgence_bench WITH (FORCE)")
            connection.execute("CREATE DATABASE urgence_bench")
        upgrade_to_head(url)
        began = time.perf_counter()
        load(url, args.signals, args.seed)
        print(f"chargement : {time.perf_counter() - began:.1f} s")
    os.environ["URGENCE_DATABASE_URL"] = url
    get_settings.cache_clear()
    engine = make_engine(url, 2)
    with session_scope(engine) as session:
        session.execute(text("TRUNCATE stats_daily"))
        session.commit()
    summary("sans agrégats (tout en direct), interne", timed(engine, 2, sector=None, variant="internal"))
    began = time.perf_counter()
    with session_scope(engine) as session:
        for day in SEMESTER.days():
            if paris_midnight(day + timedelta(days=1)) <= NOW:
                roll_day(session, day, NOW)
                session.commit()
    print(f"agrégation des {len(SEMESTER.days())} journées : {time.perf_counter() - began:.1f} s")
    for variant in ("internal", "published"):
        timed(engine, 3, sector=None, variant=variant)  # warm-up
        summary(f"tout Paris, {variant}, connexion chaude", timed(engine, args.runs, sector=None, variant=variant))
        summary(f"tout Paris, {variant}, nouvelle connexion", timed(None, 10, sector=None, variant=variant))
    summary("paris-18, internal, connexion chaude", timed(engine, args.runs, sector="paris-18", variant="internal"))
    engine.dispose()


if __name__ == "__main__":
    main()
