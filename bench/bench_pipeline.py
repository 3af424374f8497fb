"""The whole pipeline at full speed, as deployed: a burst of signals through separate processes.

    uv run python bench/bench_pipeline.py [--signals 6000] [--apis 1] [--workers 1] [--concurrency 2]

Needs `wrk` (Debian package). In a fresh database on this machine's PostgreSQL and the Redis of
`URGENCE_BENCH_BROKER_URL` (its database is emptied first), starts `urgence api` × `--apis` (one port each), the
bare one-INSERT endpoint (`bench/bare_app.py`), `urgence relay`, `urgence worker` × `--workers` (each with
`--concurrency` pool processes) and `urgence beat`, then
1. measures the bare endpoint's closed-loop rate (wrk, `--bare-seconds`): the yardstick of this run;
2. sends `--signals` signals as fast as the API takes them (wrk, `--connections` spread over the replicas), with
   routing running, and waits until every one is routed;
3. prints, from the database's timestamps (`received_at` as the request is handled, `routed_at` as the worker
   commits): the intake rate, the end-to-end rate (first reception to last routed) and its ratio to the bare
   rate, the backlog's drain time after the last reception, the routing latency, and the CPU seconds per signal
   of the API, relay and worker processes (psutil, over each process tree: Celery's pool included).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_intake import WRK_SCRIPT, answers, closed_loop, cpu_seconds, spawn  # noqa: E402
from tests.support.stack import free_port, kill_group  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SERVER = os.environ.get("URGENCE_BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
BROKER = os.environ.get("URGENCE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")


def burst(
    urls: list[str], headers: dict[str, str], signals: int, connections: int, workdir: Path, accepted: Callable[[], int]
) -> None:
    """About `signals` POSTs, spread over the replicas (one wrk each, started together), as fast as they are
    answered: stopped once the database holds `signals` (the requests in flight then add a few)."""
    script = workdir / "burst.lua"
    script.write_text(WRK_SCRIPT)
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    each = max(1, connections // len(urls))
    command = ["wrk", "-t1", f"-c{each}", "-d600s", "-s", str(script), *header_args]
    runs = [subprocess.Popen([*command, url], stdout=subprocess.DEVNULL) for url in urls]
    try:
        wait_for(lambda: accepted() >= signals or None, timeout=600, interval=0.05, what="la rafale")
    finally:
        for run in runs:
            run.send_signal(signal.SIGINT)
        for run in runs:
            run.wait(10)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", type=int, default=6000)
    parser.add_argument("--apis", type=int, default=1, help="`urgence api` replicas")
    parser.add_argument("--workers", type=int, default=1, help="`urgence worker` processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes of each worker")
    parser.add_argument("--relays", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16, help="wrk connections in all")
    parser.add_argument("--bare-seconds", type=float, default=10)
    parser.add_argument("--keep-logs", action="store_true", help="keep bench/results/pipeline-*.log")
    args = parser.parse_args()

    load_before = os.getloadavg()
    name = f"urgence_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{SERVER}/{name}"
    redis.Redis.from_url(BROKER).flushdb()  # no message of an earlier run left to route
    workdir = ROOT / "bench" / "results"
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("pipeline-*.log"):
        old.unlink()
    env = {
        **os.environ,
        "URGENCE_DATABASE_URL": database_url,
        "URGENCE_BROKER_URL": BROKER,
        "URGENCE_DATA_DIR": str(workdir),
        "URGENCE_RATE_LIMIT_PER_MINUTE": "1000000000",  # one client token sends everything
    }
    cli = [sys.executable, "-m", "services.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, cwd=ROOT)
    token = subprocess.run(
        [*cli, "token", "create", "--role", "outreach", "--name", "bench"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    roles: dict[str, list[subprocess.Popen[bytes]]] = {"api": [], "relay": [], "worker": [], "beat": [], "bare": []}
    try:
        api_ports = [free_port() for _ in range(args.apis)]
        for index, port in enumerate(api_ports):
            api = [*cli, "api", "--port", str(port), "--no-migrate"]
            roles["api"].append(spawn(api, env, workdir / f"pipeline-api-{index}.log"))
        bare_port = free_port()
        bare = [sys.executable, "-m", "uvicorn", "bench.bare_app:create_app", "--factory", "--port", str(bare_port)]
        roles["bare"].append(spawn([*bare, "--log-level", "warning"], env, workdir / "pipeline-bare.log"))
        for index in range(args.relays):
            roles["relay"].append(spawn([*cli, "relay"], env, workdir / f"pipeline-relay-{index}.log"))
        for index in range(args.workers):
            worker = [*cli, "worker", "--concurrency", str(args.concurrency)]
            roles["worker"].append(spawn(worker, env, workdir / f"pipeline-worker-{index}.log"))
        roles["beat"].append(spawn([*cli, "beat"], env, workdir / "pipeline-beat.log"))
        for port in api_ports:  # 200 once the relay, every queue's workers and the scheduler beat
            wait_for(lambda port=port: answers(f"http://127.0.0.1:{port}/health"), timeout=60, what="/health")
        wait_for(lambda: answers(f"http://127.0.0.1:{bare_port}/docs"), timeout=30, what="l'API nue")

        # 1. The yardstick, in this run, with the pipeline's processes up and idle.
        bare_rate = closed_loop(f"http://127.0.0.1:{bare_port}/bare", {}, args.bare_seconds, 16, workdir)
        kill_group(roles.pop("bare")[0], signal.SIGTERM)

        # 2. The burst, routing running.
        with psycopg.connect(database_url, autocommit=True) as connection:

            def left() -> int:
                row = connection.execute(
                    "SELECT (SELECT count(*) FROM signals WHERE status = 'received')"
                    " + (SELECT count(*) FROM outbox WHERE done_at IS NULL)"
                ).fetchone()
                return -1 if row is None else int(row[0])

            def accepted() -> int:
                row = connection.execute("SELECT count(*) FROM signals").fetchone()
                return 0 if row is None else int(row[0])

            before = {role: sum(cpu_seconds(p) for p in processes) for role, processes in roles.items()}
            load_burst = os.getloadavg()
            started = time.monotonic()
            urls = [f"http://127.0.0.1:{port}/v1/signals" for port in api_ports]
            burst(urls, headers, args.signals, args.connections, workdir, accepted)
            sent = time.monotonic()
            wait_for(lambda: left() == 0 or None, timeout=900, interval=0.2, what="le routage de la rafale")
            drained = time.monotonic()
            spent = {role: sum(cpu_seconds(p) for p in processes) - before[role] for role, processes in roles.items()}
            row = connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE status <> 'received'),"
                " extract(epoch FROM max(received_at) - min(received_at)),"
                " extract(epoch FROM max(routed_at) - min(received_at)),"
                " extract(epoch FROM max(routed_at) - max(received_at)),"
                " percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
                "   (ORDER BY extract(epoch FROM routed_at - received_at))"
                " FROM signals"
            ).fetchone()
            assert row is not None
            count, routed, intake_span, total_span, drain, (p50, p99) = row
        load_after = os.getloadavg()
        intake_rate, end_to_end = count / float(intake_span), count / float(total_span)
        loads = "load average " + " → ".join(f"{a:.2f}/{b:.2f}/{c:.2f}" for a, b, c in (load_before, load_after))
        print(f"{loads} (at the burst: {load_burst[0]:.2f})")
        replicas = f"{args.apis} api, {args.relays} relay, {args.workers} worker × {args.concurrency}"
        print(f"processes: {replicas}, 1 beat; {args.connections} connections")
        print(f"bare endpoint (1 INSERT):   {bare_rate:8.1f} req/s")
        print(f"signals accepted:           {count} ({routed} routed)")
        print(f"intake during the burst:    {intake_rate:8.1f} signals/s ({intake_rate / bare_rate:.1%} of bare)")
        print(f"end to end (202 → routed):  {end_to_end:8.1f} signals/s ({end_to_end / bare_rate:.1%} of bare)")
        print(f"backlog drained after the last 202 in {float(drain):.1f} s (wall clock: {drained - sent:.1f} s)")
        print(f"routing latency: p50 {float(p50) * 1000:.0f} ms, p99 {float(p99) * 1000:.0f} ms")
        per_signal = {role: spent[role] / count * 1000 for role in ("api", "relay", "worker")}
        print(
            "CPU per signal: "
            + ", ".join(f"{role} {ms:.2f} ms" for role, ms in per_signal.items())
            + f", total {sum(per_signal.values()):.2f} ms (beat {spent['beat']:.1f} s in all)"
        )
        print(f"burst sent in {sent - started:.1f} s")
    finally:
        for processes in roles.values():
            for process in processes:
                kill_group(process, signal.SIGTERM, timeout=20)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.keep_logs:
            for log in workdir.glob("pipeline-*.log"):
                log.unlink()


if __name__ == "__main__":
    main()
