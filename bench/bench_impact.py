"""Impact of a draft over 90 days of a busy winter: `uv run python bench/bench_impact.py [--signals N] [--runs R]`.

Creates the database `urgence_bench_impact` on the server of URGENCE_DATABASE_URL, migrates it, bulk-loads N
routed signals received over the last 90 days (the mix of `bench_routing.py`, 5 % out of Paris) with a weather
plan set and lifted every few days, then times `draft_impact` (read the signals and the plan's history, route
each twice through the pure engine, compare) for a draft of FR01, and prints wall and CPU time, best and median.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
import uuid
from datetime import timedelta

import psycopg
from bench_routing import build_mix

from services.core.clock import utc_now
from services.core.db import make_engine, session_scope, sqlalchemy_url
from services.core.facts import people_to_json
from services.core.fiches import load_documents, read_fiches
from services.core.fiches.impact import compare, draft_impact, stored_signals, weather_history
from services.core.migrations import upgrade_to_head
from services.core.settings import get_settings
from services.core.territory import default_map

DAYS = 90


def load(url: str, count: int, seed: int) -> None:
    now = utc_now() - timedelta(minutes=1)  # all inside the 90 days that end when the impact is asked
    mix = build_mix(count, seed)
    step = timedelta(days=DAYS) / count
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY signals (id, received_at, observed_at, source, people, flags, status, arrondissement, sector) "
            "FROM STDIN"
        ) as copying:
            for i, (facts, territory, _) in enumerate(mix):
                at = now - timedelta(days=DAYS) + step * (i + 1)
                status = "routed" if territory.in_paris else "out_of_territory"
                people = json.dumps(people_to_json(facts.people))
                row = (str(uuid.uuid4()), at, at, "maraude", people, sorted(facts.flags), status)
                copying.write_row((*row, territory.arrondissement, territory.sector))
        with cursor.copy("COPY events (at, type, actor, data) FROM STDIN") as copying:
            for day in range(0, DAYS, 6):  # a grand froid of two to three days, every six days
                start = now - timedelta(days=DAYS - day)
                level = 1 + day % 3
                copying.write_row(
                    (start, "weather_plan_set", "bench", json.dumps({"kind": "grand_froid", "level": level}))
                )
                end = start + timedelta(days=2, hours=12)
                copying.write_row(
                    (end, "weather_plan_cleared", "bench", json.dumps({"kind": "grand_froid", "level": level}))
                )
        connection.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    server = get_settings().require_database_url()
    base, _, _ = server.partition("?")
    url = base.rsplit("/", 1)[0] + "/urgence_bench_impact"
    plain_server = sqlalchemy_url(server).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain_server, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS urgence_bench_impact WITH (FORCE)")
        connection.execute("CREATE DATABASE urgence_bench_impact")
    try:
        upgrade_to_head(url)
        load(sqlalchemy_url(url), args.signals, args.seed)
        os.environ["URGENCE_DATABASE_URL"] = url
        get_settings.cache_clear()
        before, documents = read_fiches(get_settings().fiches_dir)
        fr01 = copy.deepcopy(documents["FR01.yaml"])  # families led by the MUS, acknowledged within 30 min
        fr01.update(lead="mus", version="bench")
        fr01["deadlines"]["ack"] = "PT30M"
        after = load_documents({**documents, "FR01.yaml": fr01})
        territory_map = default_map()
        engine = make_engine(url, 1)
        walls, cpus = [], []
        with session_scope(engine) as session:
            for _ in range(args.runs + 1):  # the first run warms the connection and the caches
                wall, cpu = time.perf_counter(), time.process_time()
                impact = draft_impact(session, before, after, territory_map, days=DAYS, now=utc_now())
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            began = time.process_time()
            signals = stored_signals(session, utc_now() - timedelta(days=DAYS), utc_now())
            history = weather_history(session, utc_now())
            reading = time.process_time() - began
            began = time.process_time()
            compare(signals, before, after, territory_map, history, days=DAYS)
            comparing = time.process_time() - began
        engine.dispose()
        walls, cpus = walls[1:], cpus[1:]
        print(f"{impact.signals} signalements sur {DAYS} jours ; changements : {impact.changed}")
        for what, times in (("temps écoulé", walls), ("temps CPU du processus", cpus)):
            print(f"{what} : meilleur {min(times) * 1000:.0f} ms, médiane {statistics.median(times) * 1000:.0f} ms")
        print(f"dont CPU : lecture {reading * 1000:.0f} ms, routage et comparaison {comparing * 1000:.0f} ms")
        print("charge :", os.getloadavg())
    finally:
        with psycopg.connect(plain_server, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS urgence_bench_impact WITH (FORCE)")


if __name__ == "__main__":
    main()
