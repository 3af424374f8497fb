"""Intake throughput and routing latency, against this machine's PostgreSQL and Redis.

    uv run python bench/bench_intake.py [--seconds 10] [--rounds 3] [--concurrency 32] [--rate 100]
                                        [--bare-fraction 0.25]

Needs `wrk` (Debian package). Starts, in a fresh database: the real API (`urgence api`), a bare FastAPI
endpoint doing one INSERT (the framework's limit, same server and engine settings), the relay, a worker and
the scheduler; then measures
1. sustained accepted signals/s on POST /v1/signals and requests/s on the bare endpoint, closed loop;
2. latency from reception to routed (p50, p99) at a steady open-loop rate (`open_loop.py`, a generator that
   leaves the cores to the system), from the database's timestamps (`received_at` is taken as the request is
   handled, `routed_at` when the worker commits the decision), and the CPU each part spent on it, PostgreSQL's
   backends and the generator included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.open_loop import accepted_ids, open_loop, post_request  # noqa: E402
from tests.support.stack import free_port, kill_group  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SERVER = os.environ.get("URGENCE_BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
BROKER = os.environ.get("URGENCE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")


def body(rng: random.Random) -> dict[str, Any]:
    adults = rng.choice([1, 1, 1, 1, 2])
    children = rng.choice([0, 0, 0, 0, 1, 3])
    return {
        "location": {"lat": 48.82 + rng.random() * 0.07, "lon": 2.27 + rng.random() * 0.13},
        "source": rng.choice(["maraude", "riverain", "police", "mairie"]),
        "people": {"adults": adults, "children": children, "unaccompanied_minors": 0},
        "flags": rng.sample(["cold_exposure", "drug_use", "animals", "violence"], rng.choice([0, 0, 1])),
        "description": "Personne allongée sous un porche, ne répond pas toujours.",
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local lat = 48.82 + math.random() * 0.07
  local lon = 2.27 + math.random() * 0.13
  local body = string.format('{"location": {"lat": %.5f, "lon": %.5f}, "source": "maraude", '
    .. '"people": {"adults": 1, "children": %d}, "flags": [], '
    .. '"description": "Personne allongee sous un porche."}', lat, lon, math.random(0, 1) * 2)
  return wrk.format(nil, nil, nil, body)
end
"""
# The same, each request with its own Idempotency-Key, as a client on a bad network sends them.
WRK_KEYED_SCRIPT = WRK_SCRIPT.replace(
    "return wrk.format(nil, nil, nil, body)",
    """local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Idempotency-Key"] = string.format("k-%d-%d", math.random(1, 1e9), math.random(1, 1e9))
  return wrk.format(nil, nil, headers, body)""",
)


def closed_loop(
    url: str, headers: dict[str, str], seconds: float, connections: int, workdir: Path, lua: str = WRK_SCRIPT
) -> float:
    """Requests/s answered with 2xx by wrk (a C load generator: the client must not be the bottleneck)."""
    script = workdir / "post.lua"
    script.write_text(lua)
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script), *header_args, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    non_2xx = next((int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line), 0)
    elapsed = float(next(line for line in out.splitlines() if "requests in" in line).split()[3].rstrip("s,"))
    return (requests - non_2xx) / elapsed


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU of a process and all its children (Celery's pool)."""
    try:
        root = psutil.Process(process.pid)
        total = 0.0
        for member in [root, *root.children(recursive=True)]:
            times = member.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def database_cpu_seconds(database: str) -> dict[int, float]:
    """CPU of each PostgreSQL backend serving `database` (its process title names it), by pid: the server's
    share of the work, which the machine's cores also pay."""
    seconds: dict[int, float] = {}
    for process in psutil.process_iter(["cmdline"]):
        try:
            if database in " ".join(process.info["cmdline"] or ()):
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
        except psutil.Error:
            continue
    return seconds


def answers(url: str, any_status: bool = False) -> bool:
    try:
        status = httpx.get(url, timeout=1).status_code
        return any_status or status < 500
    except httpx.HTTPError:
        return False


def main() -> None:
    # `timeout` or Ctrl-C: still run the `finally` below, which stops every process this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="per closed-loop round, and of the steady run")
    parser.add_argument("--rounds", type=int, default=3, help="closed-loop rounds of each endpoint")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--worker-concurrency", type=int, default=2, help="pool processes of the worker")
    parser.add_argument(
        "--bare-fraction",
        type=float,
        help="open-loop rate as this fraction of the bare endpoint's rate measured in this run (replaces --rate)",
    )
    args = parser.parse_args()

    name = f"urgence_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{SERVER}/{name}"
    workdir = ROOT / "bench" / "results"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "URGENCE_DATABASE_URL": database_url,
        "URGENCE_BROKER_URL": BROKER,
        "URGENCE_DATA_DIR": str(workdir),
        # One client token sends everything here: lift the per-token rate limit (600 a minute by default).
        "URGENCE_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT)
    token = (
        subprocess.run(
            [*cli, "token", "create", "--role", "outreach", "--name", "bench"],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    headers = {"Authorization": f"Bearer {token}"}
    api_port, bare_port = free_port(), free_port()
    processes = []
    try:
        processes.append(spawn([*cli, "api", "--port", str(api_port), "--no-migrate"], env, workdir / "api.log"))
        bare = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:create_app",
            "--factory",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
        ]
        processes.append(spawn(bare, env, workdir / "bare.log"))
        # /health says 503 until the relay and workers beat: any answer means the API is up.
        wait_for(lambda: answers(f"http://127.0.0.1:{api_port}/health", any_status=True), timeout=30, what="l'API")
        wait_for(lambda: answers(f"http://127.0.0.1:{bare_port}/docs"), timeout=30, what="l'API nue")

        # 1. Throughput, closed loop, routing workers stopped so they do not share the 2 cores with the API.
        # Alternating rounds, medians: the machine's pace drifts over a run, and both endpoints share the drift.
        signals_url, bare_url = f"http://127.0.0.1:{api_port}/v1/signals", f"http://127.0.0.1:{bare_port}/bare"
        rates: dict[str, list[float]] = {"bare": [], "api": [], "keyed": []}
        for _ in range(args.rounds):
            rates["bare"].append(closed_loop(bare_url, {}, args.seconds, args.concurrency, workdir))
            rates["api"].append(closed_loop(signals_url, headers, args.seconds, args.concurrency, workdir))
            rates["keyed"].append(
                closed_loop(signals_url, headers, args.seconds, args.concurrency, workdir, WRK_KEYED_SCRIPT)
            )
        bare_rate, api_rate, keyed_rate = (statistics.median(rates[name]) for name in ("bare", "api", "keyed"))
        print("rounds: " + "; ".join(f"{name} " + ", ".join(f"{r:.0f}" for r in rs) for name, rs in rates.items()))
        print(f"bare endpoint (1 INSERT): {bare_rate:8.1f} req/s (2xx, median)")
        print(f"POST /v1/signals:         {api_rate:8.1f} signals/s (202, median)")
        print(f"ratio:                    {api_rate / bare_rate:8.1%}")
        print(f"  with Idempotency-Key:   {keyed_rate:8.1f} signals/s (202, median), {keyed_rate / bare_rate:.1%}")
        if args.bare_fraction is not None:
            args.rate = bare_rate * args.bare_fraction

        # Drain the backlog of the throughput run before measuring latency.
        named = {
            "api": processes[0],
            "relay": spawn([*cli, "relay"], env, workdir / "relay.log"),
            "worker": spawn(
                [*cli, "worker", "--concurrency", str(args.worker_concurrency)], env, workdir / "worker.log"
            ),
            "beat": spawn([*cli, "beat"], env, workdir / "beat.log"),
        }
        processes.extend(process for name, process in named.items() if name != "api")
        with psycopg.connect(database_url) as connection:

            def drained() -> bool:
                # Every signal routed and every outbox row finished: nothing of this phase left for the next.
                row = connection.execute(
                    "SELECT (SELECT count(*) FROM signals WHERE status = 'received')"
                    " + (SELECT count(*) FROM outbox WHERE done_at IS NULL)"
                ).fetchone()
                connection.commit()
                return row is not None and row[0] == 0

            wait_for(drained, timeout=600, interval=1, what="le routage de l'arriéré")

            # 2. Latency at a steady rate; CPU seconds each process spent on it (where the 2 cores go).
            before = {name: cpu_seconds(process) for name, process in named.items()}
            database_before, generator_before = database_cpu_seconds(name), time.process_time()
            rng = random.Random(2)
            requests = [
                post_request(f"127.0.0.1:{api_port}", "/v1/signals", headers, body(rng))
                for _ in range(int(args.seconds * args.rate))
            ]
            ids = accepted_ids(asyncio.run(open_loop("127.0.0.1", api_port, requests, args.rate)))
            generator = time.process_time() - generator_before
            wait_for(drained, timeout=120, interval=0.5, what="le routage")
            database_after = database_cpu_seconds(name)
            rows = connection.execute(
                "SELECT extract(epoch FROM routed_at - received_at) * 1000 FROM signals WHERE id = ANY(%s)", [ids]
            ).fetchall()
            # Where the time goes: reception to the relay's publication (the outbox row's last), then to routed.
            steps = connection.execute(
                "SELECT extract(epoch FROM o.published_at - s.received_at) * 1000,"
                " extract(epoch FROM s.routed_at - o.published_at) * 1000"
                " FROM signals s JOIN outbox o ON o.payload->>'signal_id' = s.id"
                " WHERE s.id = ANY(%s) AND o.task = 'urgence.route_signal'",
                [ids],
            ).fetchall()
        spent = {name: cpu_seconds(process) - before[name] for name, process in named.items()}
        # Backends that ended meanwhile are not counted: the pools keep theirs for the whole run.
        spent["postgresql"] = sum(cpu - database_before.get(pid, 0.0) for pid, cpu in database_after.items())
        spent["load generator"] = generator
        print("CPU during the steady run: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in spent.items()))
        print(
            "CPU per signal: "
            + ", ".join(f"{name} {seconds / max(1, len(ids)) * 1000:.2f} ms" for name, seconds in spent.items())
        )
        latencies = sorted(float(row[0]) for row in rows)
        quantiles = statistics.quantiles(latencies, n=100)
        for label, column in (("to the relay's publication", 0), ("publication to routed", 1)):
            values = sorted(float(step[column]) for step in steps)
            cut = statistics.quantiles(values, n=100)
            print(f"  {label}: p50 {cut[49]:.1f} ms, p99 {cut[98]:.1f} ms")
        print(
            f"routing latency at {args.rate:.0f}/s ({args.rate / bare_rate:.0%} of bare)"
            f" over {len(latencies)} signals: "
            f"p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms, max {latencies[-1]:.1f} ms"
        )
    finally:
        for process in processes:
            kill_group(process, timeout=15)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
