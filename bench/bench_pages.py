"""The workspace pages under load: `uv run python bench/bench_pages.py [--situations 5000] [--streams 200]`
(`--keep BASE` to reuse a filled base, `--against DIR` to measure another checkout in alternation).

In a fresh database (on the server of URGENCE_BENCH_DATABASE_SERVER) and a private Redis, opens N situations with
the real engine (the demo's driver: real routing, real placement), then starts the real API (one uvicorn process,
wrapped only to report its own time per request in a `Server-Timing` header), the relay and a worker, and measures:
1. server time of `GET /file/{lead}` (the biggest sector queue and the MUS queue) and of `GET /situations/{id}`
   (random situations of that lead), p50 / p95 over the runs;
2. with S open live streams (`/file/eps:paris-13/flux`, one HTTP connection each), signals posted through the
   API one after the other: for each signal, the time from its POST to its situation's arrival on each stream
   (through relay, worker, NOTIFY, the API's listener), p50 / p99 / max.
Prints the figures; `docs/benchmarks.md` keeps them with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.launcher.embedded import redis_server_executable  # noqa: E402
from tests.support.stack import free_port, kill_group  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SERVER = os.environ.get("URGENCE_BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
DATABASE_PORT = int(SERVER.rsplit(":", 1)[1]) if SERVER.rsplit(":", 1)[1].isdigit() else 5432
STREAM_LEAD = "eps:paris-13"
ROUNDS = 4  # alternations of the page measurements
FLAGS = ("pregnant", "disability", "drug_use", "animals", "psychiatric_distress", "hospital_exit", "care_leaver")


def timed_app() -> Any:
    """The real app, reporting how long the server spent on each answer (until its headers are sent)."""
    from services.api.app import create_app

    app = create_app()

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        start, cpu = time.perf_counter(), time.process_time()

        async def with_timing(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1000
                used = (time.process_time() - cpu) * 1000  # the client asks one at a time: this request's CPU
                timing = f"app;dur={took:.2f}, cpu;dur={used:.2f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
            await send(message)

        await app(scope, receive, with_timing if scope["type"] == "http" else send)

    return timed


def populate(count: int, seed: int) -> None:
    """`count` open situations, opened over the last day by the real routing and placement."""
    from services.core.db import session_scope
    from services.core.procedures import seed_book
    from services.core.territory import default_map
    from services.demo.driver import Driver
    from services.demo.places import METRES_PER_DEGREE_LAT, grid_points

    rng = random.Random(seed)
    territory_map = default_map()
    # Two households never join when one has children and the other not, and two of the same kind never join
    # more than 150 m apart: each kind gets its own grid over all of Paris, 160 m apart (≈ 4 000 points each).
    # The second grid is shifted by half a step, so both kinds spread evenly.
    spacing = 160.0
    shift_lat = spacing / 2 / METRES_PER_DEGREE_LAT
    without = [(p, False) for n in range(1, 21) for p in grid_points(territory_map, n, spacing_metres=spacing)]
    with_children = [
        ((lat + shift_lat, lon), True)
        for n in range(1, 21)
        for lat, lon in grid_points(territory_map, n, spacing_metres=spacing)
    ]
    points = without + with_children
    rng.shuffle(points)
    now = datetime.now(UTC)
    opened: set[str] = set()
    with session_scope() as session:
        driver = Driver(session, seed_book(), territory_map, sole_writer=True)
        for index, (point, children) in enumerate(points):
            if len(opened) >= count:
                break
            when = now - timedelta(minutes=rng.uniform(1, 22 * 60))
            people = {"adults": rng.choice((1, 1, 1, 2)), "children": rng.choice((1, 2, 3)) if children else 0}
            flags = [rng.choice(FLAGS)] if rng.random() < 0.3 else []
            _, situation = driver.signal(when, source="maraude", people=people, flags=flags, point=point)
            if situation is None or situation in opened:  # out of Paris, or joined a situation already open
                continue
            opened.add(situation)
            roll = rng.random()
            if roll < 0.5:
                driver.acknowledge(situation, when + timedelta(minutes=5))
            if roll < 0.25:
                driver.contact(situation, when + timedelta(minutes=30))
            if rng.random() < 0.05:
                driver.escalate(situation, when + timedelta(minutes=40))
            driver.release(situation)
            if index % 200 == 0:
                driver.finish_outbox()
                session.commit()
        driver.finish_outbox()
        session.commit()
        driver.close()
    print(f"{len(opened)} situations ouvertes")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def server_times(base: str, headers: dict[str, str], path: str, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) milliseconds the server spent on each of `runs` requests, one at a time."""
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(3):  # warm up
            client.get(path)
        for _ in range(runs):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
            wall, cpu = (float(part.split("dur=")[1]) for part in answer.headers["server-timing"].split(","))
            times.append((wall, cpu))
    return times


def usage(process: psutil.Process) -> tuple[float, float, int]:
    """(CPU seconds, resident MiB, database connections) of the API process."""
    times = process.cpu_times()
    connections = sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port == DATABASE_PORT)
    return times.user + times.system, process.memory_info().rss / 2**20, connections


async def stream_latencies(
    base: str, headers: dict[str, str], streams: int, signals: int, api: psutil.Process
) -> list[float]:
    arrivals: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    opened = 0
    ready = asyncio.Event()
    limits = httpx.Limits(max_connections=streams + 20, max_keepalive_connections=streams + 20)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=None, limits=limits) as client:

        async def listen(number: int) -> None:
            nonlocal opened
            async with client.stream("GET", f"/file/{STREAM_LEAD}/flux") as answer:
                assert answer.status_code == 200
                opened += 1
                if opened == streams:
                    ready.set()
                async for line in answer.aiter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        arrivals[number][data["id"]].append(time.monotonic())

        idle = usage(api)
        opening = time.monotonic()
        tasks = [asyncio.create_task(listen(n)) for n in range(streams)]
        await asyncio.wait_for(ready.wait(), 120)
        print(f"{streams} flux ouverts en {time.monotonic() - opening:.1f} s")
        await asyncio.sleep(1)
        held = usage(api)
        from services.core.territory import default_map
        from services.demo.places import grid_points

        points = list(grid_points(default_map(), 13, spacing_metres=170.0))
        random.Random(7).shuffle(points)
        sent: list[tuple[str, float]] = []
        for n in range(signals):
            lat, lon = points[n]
            body = {
                "location": {"lat": lat, "lon": lon},
                "source": "maraude",
                "people": {"adults": 1 + n % 3, "children": 1 + n % 4},
                "flags": [],
            }
            started = time.monotonic()
            answer = await client.post("/v1/signals", json=body)
            assert answer.status_code == 202, answer.text
            sent.append((answer.json()["id"], started))
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
        after = usage(api)
        for task in tasks:
            task.cancel()
        print(
            f"processus de l'API : {idle[1]:.0f} Mio sans flux, {held[1]:.0f} Mio avec {streams} flux ouverts,"
            f" {after[1]:.0f} Mio après {signals} signalements ; connexions à la base : {idle[2]} sans flux,"
            f" {held[2]} flux ouverts ; CPU : {held[0] - idle[0]:.2f} s pour ouvrir les flux,"
            f" {(after[0] - held[0]) / signals * 1000:.0f} ms par signalement diffusé"
        )
        situations = {}
        for signal_id, _ in sent:
            situations[signal_id] = (await client.get(f"/v1/signals/{signal_id}")).json()["situation_id"]
    latencies = []
    missing = 0
    for signal_id, started in sent:
        for number in range(streams):
            after = [t for t in arrivals[number].get(situations[signal_id], []) if t >= started]
            if after:
                latencies.append((min(after) - started) * 1000)
            else:
                missing += 1
    print(f"arrivées manquantes : {missing} sur {len(sent) * streams}")
    return latencies


def report(label: str, times: list[tuple[float, float]]) -> None:
    wall, cpu = [t[0] for t in times], [t[1] for t in times]
    print(
        f"{label:30} temps serveur p50 {statistics.median(wall):6.1f} ms, p95 {percentile(wall, 0.95):6.1f} ms"
        f" | CPU p50 {statistics.median(cpu):6.1f} ms, p95 {percentile(cpu, 0.95):6.1f} ms"
    )


def spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--situations", type=int, default=5000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--signals", type=int, default=30)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--keep", metavar="BASE", help="garder la base BASE (la remplir si elle n'existe pas) d'un passage à l'autre"
    )
    parser.add_argument("--pages-only", action="store_true", help="sans les flux")
    parser.add_argument(
        "--against", metavar="DOSSIER", help="une autre version (un checkout) mesurée en alternance sur la même base"
    )
    args = parser.parse_args()

    name = args.keep or f"urgence_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        fresh = not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if fresh:
            connection.execute(f'CREATE DATABASE "{name}"')
    workdir = ROOT / "bench" / "results"
    workdir.mkdir(parents=True, exist_ok=True)
    # A private broker: nothing shared with other runs on this machine.
    redis_port = free_port()
    broker = [str(redis_server_executable()), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    env = {
        **os.environ,
        "URGENCE_DATABASE_URL": f"{SERVER}/{name}",
        "URGENCE_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "URGENCE_DATA_DIR": str(workdir),
        "URGENCE_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    os.environ.update(env)
    cli = [sys.executable, "-m", "services.cli"]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(spawn(broker, env, workdir / "pages-redis.log"))
        subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT)
        if fresh:
            started = time.monotonic()
            populate(args.situations, seed=1)
            with psycopg.connect(env["URGENCE_DATABASE_URL"], autocommit=True) as connection:
                connection.execute("ANALYZE")  # the statistics a running base has (autovacuum would, later)
            print(f"remplissage : {time.monotonic() - started:.0f} s")
        from services.core.access.tokens import create_token
        from services.core.db import session_scope
        from services.core.territory import default_map

        with session_scope() as session:
            coordinator = create_token(
                session, role="coordinator", leads=["mus", STREAM_LEAD], territory_map=default_map(), name="banc"
            )
            session.commit()
        headers = {"Authorization": f"Bearer {coordinator}"}
        with psycopg.connect(env["URGENCE_DATABASE_URL"]) as connection:
            rows = connection.execute(
                "SELECT lead, count(*) FROM situations WHERE status IN ('new','acknowledged','in_progress')"
                " GROUP BY lead ORDER BY 2 DESC"
            ).fetchall()
            total = sum(n for _, n in rows)
            biggest = next(lead for lead, _ in rows if lead.startswith("eps:"))
            ids = [
                r[0]
                for r in connection.execute("SELECT id FROM situations WHERE lead = %s LIMIT 200", [biggest]).fetchall()
            ]
        print(f"{total} situations ouvertes ; plus grande file de secteur : {biggest} ({dict(rows)[biggest]})")
        port = free_port()
        server = [sys.executable, "-m", "uvicorn", "bench.bench_pages:timed_app", "--factory", "--port", str(port),
                  "--log-level", "warning"]  # fmt: skip
        processes.append(spawn(server, env, workdir / "pages-api.log"))
        processes.append(spawn([*cli, "relay"], env, workdir / "pages-relay.log"))
        processes.append(spawn([*cli, "worker", "--concurrency", "1"], env, workdir / "pages-worker.log"))
        base = f"http://127.0.0.1:{port}"
        # /health says 503 until every component beats (no scheduler here): any answer means the API is up.
        wait_for(lambda: _answers(f"{base}/health"), timeout=60, what="l'API")

        servers = {"": base}
        if args.against:  # the other version's API on the same base, measured in alternation with this one
            other_port = free_port()
            other = [sys.executable, "-m", "uvicorn", "bench.bench_pages:timed_app", "--factory", "--port",
                     str(other_port), "--log-level", "warning"]  # fmt: skip
            processes.append(spawn(other, env, workdir / "pages-api-against.log", cwd=Path(args.against)))
            servers[" (autre)"] = f"http://127.0.0.1:{other_port}"
            wait_for(lambda: _answers(f"{servers[' (autre)']}/health"), timeout=60, what="l'autre API")
        rng = random.Random(3)
        chosen = [rng.choice(ids) for _ in range(max(1, args.runs // 20))]
        measured: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for chunk in range(ROUNDS):  # in alternation: both versions share the machine's drift
            for suffix, url in servers.items():
                for label, path in ((f"/file/{biggest}", f"/file/{biggest}"), ("/file/mus", "/file/mus")):
                    measured[label + suffix] += server_times(url, headers, path, args.runs // ROUNDS)
                for situation_id in chosen[chunk::ROUNDS]:
                    page = f"/situations/{situation_id}"
                    measured["/situations/{id}" + suffix] += server_times(url, headers, page, 20)
        for label in sorted(measured, key=lambda name: (name.split(" ")[0], name)):
            report(label, measured[label])

        if args.pages_only:
            return
        api = psutil.Process(processes[1].pid)
        latencies = asyncio.run(stream_latencies(base, headers, args.streams, args.signals, api))
        print(
            f"signal → {args.streams} flux : {len(latencies)} arrivées, p50 {statistics.median(latencies):.0f} ms, "
            f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
        )
    finally:
        for process in processes:
            kill_group(process, signal.SIGTERM)
        from services.core.db import get_engine

        get_engine().dispose()
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
            if not args.keep:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
