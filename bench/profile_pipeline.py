"""Where a signal's CPU goes in the relay and the worker, in this process: statements and time per signal.

    uv run python bench/profile_pipeline.py [--signals 2000] [--batch 25] [--profile relay|worker|none] [--top 25]

In a fresh database (this machine's PostgreSQL) and the Redis of `URGENCE_BENCH_BROKER_URL` (its database is
emptied), accepts `--signals` signals through intake's own function, then
1. publishes them with the relay's `publish_due` (batches, as `urgence relay` does), counting SQL statements
   and Redis commands;
2. runs the worker's `urgence.route_signal` task on each message, taken from Redis the way a worker takes it
   (Celery's own consumer, `--pool solo`, in this process), counting SQL statements per routed signal;
and prints CPU seconds per signal for each phase; `--profile` adds cProfile's top functions of one phase.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SERVER = os.environ.get("URGENCE_BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
BROKER = os.environ.get("URGENCE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--profile", choices=["relay", "worker", "orientation alone", "none"], default="none")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime, cumulative")
    parser.add_argument("--callers", help="with --profile: who calls the functions matching this")
    parser.add_argument("--core-only", action="store_true", help="the orientation alone, without Celery")
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="signals per routing message (the relay puts 25 at most; 1 or 2 at a city's steady rate)",
    )
    args = parser.parse_args()

    name = f"urgence_profile_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        URGENCE_DATABASE_URL=f"{SERVER}/{name}",
        URGENCE_BROKER_URL=BROKER,
        URGENCE_DATA_DIR=str(ROOT / "bench" / "results"),
        URGENCE_CELERY_EVENTS=os.environ.get("URGENCE_CELERY_EVENTS", "true"),
    )
    redis.Redis.from_url(BROKER).flushdb()
    try:
        run(args)
    finally:
        from services.core.db import get_engine

        get_engine().dispose()
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace) -> None:
    from sqlalchemy import event

    from services.core.clock import utc_now
    from services.core.db import get_engine
    from services.core.decisions import DecisionContext
    from services.core.migrations import upgrade_to_head
    from services.core.procedures import seed_book
    from services.core.signals.intake import accept_signal
    from services.core.signals.schemas import SignalIn
    from services.core.territory import default_map
    from services.workers import relay
    from services.workers.celery_app import celery_app

    upgrade_to_head()
    if args.batch is not None:
        relay.SIGNALS_PER_MESSAGE = args.batch
    fiches, territory_map = seed_book(), default_map()
    statements: Counter[str] = Counter()

    @event.listens_for(get_engine(), "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements[" ".join(statement.split())[:90]] += 1

    rng = random.Random(1)
    with get_engine().begin() as connection:
        for _ in range(args.signals):
            body = {
                "location": {"lat": 48.82 + rng.random() * 0.07, "lon": 2.27 + rng.random() * 0.13},
                "source": "maraude",
                "people": {"adults": 1, "children": rng.choice([0, 2])},
                "description": "Personne allongée sous un porche.",
            }
            accept_signal(
                connection,
                SignalIn.model_validate(body),
                submitted_by="bench",
                context=DecisionContext(utc_now(), fiches, territory_map),
            )

    def phase(label: str, work: Any) -> None:
        statements.clear()
        profiler = cProfile.Profile(time.process_time) if args.profile == label else None  # CPU, not waits
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        work()
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        out = sys.__stdout__  # Celery's worker takes over sys.stdout
        print(f"{label}: {cpu / args.signals * 1000:.2f} ms CPU per signal ({wall:.1f} s wall)", file=out)
        total = sum(statements.values())
        print(f"  {total / args.signals:.2f} SQL statements per signal:", file=out)
        for statement, count in statements.most_common(12):
            print(f"    {count / args.signals:6.2f}  {statement}", file=out)
        if profiler:
            stats = pstats.Stats(profiler, stream=out).sort_stats(args.sort)
            stats.print_stats(args.top)
            if args.callers:
                stats.print_callers(args.callers)

    def publish_all() -> None:
        while relay.publish_due(hold_routing=False).handled:  # all of them now, the worker's phase comes after
            pass

    phase("relay", publish_all)

    def consume_all() -> None:
        worker = celery_app.Worker(
            pool="solo",
            queues=["routing"],
            concurrency=1,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="WARNING",
            redirect_stdouts=False,
        )
        client = redis.Redis.from_url(BROKER)

        def stop_when_done() -> None:
            while client.llen("routing") or client.hlen("unacked"):
                time.sleep(0.05)
            worker.stop()

        threading.Thread(target=stop_when_done, daemon=True).start()
        worker.start()

    if args.core_only:
        from sqlalchemy import text

        from services.core.db import session_scope
        from services.core.situations.orientation import orient_signal

        with get_engine().connect() as connection:
            ids = [row[0] for row in connection.execute(text("SELECT id FROM signals ORDER BY received_at"))]

        def orient_all() -> None:
            for signal_id in ids:
                with session_scope() as session:
                    orient_signal(session, signal_id, context=DecisionContext(utc_now(), fiches, territory_map))
                    session.commit()

        phase("orientation alone", orient_all)
    else:
        phase("worker", consume_all)


if __name__ == "__main__":
    main()
