"""What the shared rate limit costs an API process per request: CPU µs of one check, counted in the process
(no Redis) against counted in Redis by the Lua script on the pipelined connection (what the API does), and by
the same script through `redis.asyncio` (what `pipelined_redis` replaces), one at a time and 64 at once.

    uv run python bench/bench_ratelimit.py [--calls 20000]

Uses the Redis of `URGENCE_BENCH_BROKER_URL` (db 15 by default: its rate-limit keys are removed at the end)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis as AsyncRedis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.api.ratelimit import _SCRIPT, SharedRateLimiter  # noqa: E402

BROKER = os.environ.get("URGENCE_BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")
KEYS = 50  # callers
CONCURRENCY = 64


async def measure(check: Callable[[str], Awaitable[object]], calls: int, concurrent: bool) -> tuple[float, float]:
    """(CPU µs, wall µs) per check."""
    await check("warm")
    cpu, wall = time.process_time(), time.perf_counter()
    if concurrent:
        for start in range(0, calls, CONCURRENCY):
            await asyncio.gather(*(check(f"k{n % KEYS}") for n in range(start, min(calls, start + CONCURRENCY))))
    else:
        for n in range(calls):
            await check(f"k{n % KEYS}")
    return (time.process_time() - cpu) * 1e6 / calls, (time.perf_counter() - wall) * 1e6 / calls


async def main(calls: int) -> None:
    local = SharedRateLimiter("bench", 10**9, None)
    shared = SharedRateLimiter("bench", 10**9, BROKER)
    plain = AsyncRedis.from_url(BROKER)
    script = plain.register_script(_SCRIPT)
    sequence = iter(range(10**12))

    async def through_redis_asyncio(key: str) -> object:
        return await script(keys=[f"urgence:ratelimit:bench:{key}"], args=[10**9, 60000, "hit", next(sequence)])

    checks: list[tuple[str, Callable[[str], Awaitable[object]]]] = [
        ("dans le processus (sans Redis)", local.hit),
        ("Redis, connexion pipelinée (l'API)", shared.hit),
        ("Redis, redis.asyncio", through_redis_asyncio),
    ]
    print(f"load average: {os.getloadavg()}  ({calls} vérifications par mesure)")
    print(f"{'vérification':40} {'CPU µs, une à une':>18} {'CPU µs, 64 à la fois':>22} {'µs mur, une à une':>18}")
    try:
        for name, check in checks:
            one_cpu, one_wall = await measure(check, calls, concurrent=False)
            many_cpu, _ = await measure(check, calls, concurrent=True)
            print(f"{name:40} {one_cpu:18.0f} {many_cpu:22.0f} {one_wall:18.0f}")
    finally:
        shared.reset()
        await shared.close()
        await plain.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    asyncio.run(main(parser.parse_args().calls))
