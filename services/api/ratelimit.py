"""Rate limits shared by every API process: a sliding window per key, counted in Redis by one Lua script.

N API replicas enforce one limit: each request is one `EVALSHA` (one round trip) that drops the hits older than
the window, counts the rest, and records this one if allowed — atomically, on Redis's clock (replicas' clocks do
not matter). A key holds at most `per_minute` entries and expires after a minute of silence; keys are hashed
(a username never sits in Redis in clear).

Redis down or slow (no answer within `TIMEOUT_SECONDS`, 1 s): the limit **fails open** to a window counted in the
process (what each replica did before), so intake keeps accepting signals — never a 5xx — and a runaway client
is still stopped, N times later. The switch is logged once (warning, and again when Redis answers), and every
decision taken that way counts in `urgence_rate_limit_fallbacks`. Redis is not asked again for `RETRY_SECONDS`
after a failure, then by one call at a time until it answers: an outage costs the hot path nothing, and a Redis
that does not even refuse (a host gone) delays one request per `RETRY_SECONDS`, by `TIMEOUT_SECONDS`.

Limits are per token or person; failed authentications are counted per address, and failed sign-ins per
username with a much higher ceiling per address (one person's typos, or an attack on one name, do not lock out
the others behind the same address). The point is to stop a runaway client or a guessing attack, not to meter."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from typing import Any

from prometheus_client import Counter
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from services.api.pipelined_redis import PipelinedRedis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
KEY_PREFIX = "urgence:ratelimit:"
TIMEOUT_SECONDS = 1.0  # Redis answers in well under a millisecond; a loaded host can stall for more
RETRY_SECONDS = 2.0

FALLBACKS = Counter(
    "urgence_rate_limit_fallbacks",
    "Décisions de débit prises dans le processus de l'API faute de réponse de Redis (limite non partagée).",
    ["limit"],
    registry=None,
)

# KEYS[1]: the key. ARGV: limit, window (ms), mode ("hit": check and record; "wait": check only; "record"),
# a member unique to this call. Returns -1 when allowed (recorded unless "wait"), else the milliseconds to wait.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[3] ~= 'record' then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return tonumber(oldest[2]) + window - now
  end
  if ARGV[3] == 'wait' then
    return -1
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""
_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # Redis names scripts by their SHA-1
# Members only need to be unique within a key: a random prefix per process (container pids repeat) and a counter.
_PROCESS = os.urandom(6).hex()
_CALLS = itertools.count()


class RateLimiter:
    """A sliding window counted in this process: the fallback, and the limit when no Redis is configured."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one request; None when allowed, else the seconds to wait before the next one is."""
        now = time.monotonic()
        with self._lock:
            wait = self._wait(key, now)
            if wait is None:
                self._record(key, now)
            return wait

    def wait(self, key: str) -> float | None:
        """Without counting: None when one more is allowed, else the seconds to wait (failures are counted only
        once known, by `record`)."""
        with self._lock:
            return self._wait(key, time.monotonic())

    def record(self, key: str) -> None:
        with self._lock:
            self._record(key, time.monotonic())

    def forget(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()

    def _wait(self, key: str, now: float) -> float | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - WINDOW_SECONDS:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1.0, math.ceil(hits[0] + WINDOW_SECONDS - now))
        return None

    def _record(self, key: str, now: float) -> None:
        self._hits.setdefault(key, deque()).append(now)
        if len(self._hits) > 50_000:  # forget idle callers rather than grow without bound
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - WINDOW_SECONDS}


class SharedRateLimiter:
    """One limit for every API process, counted in Redis at `redis_url` (None: in this process only).

    `hit` is for the event loop (the hot path: one round trip on a pipelined connection, see `pipelined_redis`);
    `wait`, `record` and `forget` are for
    worker threads (the sign-in, which hashes a password anyway)."""

    def __init__(self, name: str, per_minute: int, redis_url: str | None) -> None:
        self.name = name
        self.local = RateLimiter(per_minute)
        self._url = redis_url
        self._sync: Redis | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PipelinedRedis] = weakref.WeakKeyDictionary()
        self._down_until = 0.0
        self._degraded = False
        self._fallbacks = FALLBACKS.labels(name)

    @property
    def per_minute(self) -> int:
        return self.local.per_minute

    @per_minute.setter
    def per_minute(self, value: int) -> None:
        self.local.per_minute = value

    async def hit(self, key: str) -> float | None:
        """Count one request; None when allowed, else the seconds to wait before the next one is."""
        client = self._async_client()
        if client is None:
            return self._locally("hit", key)
        try:
            answer = await _evalsha_async(client, self._args(key, "hit"))
        except (TimeoutError, RedisError, OSError) as err:
            self._failed(err)
            return self._locally("hit", key)
        return self._answered(answer)

    def wait(self, key: str) -> float | None:
        return self._sync_call("wait", key)

    def record(self, key: str) -> None:
        self._sync_call("record", key)

    def forget(self, key: str) -> None:
        self.local.forget(key)
        client = self._sync_client()
        if client is None:
            return
        try:
            client.delete(self._key(key))
        except (RedisError, OSError) as err:
            self._failed(err)

    def reset(self) -> None:
        """Forget every key of this limit, here and in Redis (tests, and an operator's clean slate)."""
        self.local.clear()
        client = self._sync_client()
        if client is not None:
            keys = list(client.scan_iter(match=f"{KEY_PREFIX}{self.name}:*", count=1000))
            if keys:
                client.delete(*keys)

    async def close(self) -> None:
        """Close the connections of the running event loop (the API's shutdown)."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _sync_call(self, mode: str, key: str) -> float | None:
        client = self._sync_client()
        if client is None:
            return self._locally(mode, key)
        args = self._args(key, mode)
        try:
            try:
                answer = client.evalsha(_SHA, 1, *args)
            except NoScriptError:
                answer = client.eval(_SCRIPT, 1, *args)
        except (RedisError, OSError) as err:
            self._failed(err)
            return self._locally(mode, key)
        return self._answered(answer)

    def _key(self, key: str) -> str:
        return f"{KEY_PREFIX}{self.name}:{hashlib.blake2b(key.encode(), digest_size=12).hexdigest()}"

    def _args(self, key: str, mode: str) -> tuple[str, int, int, str, str]:
        member = f"{_PROCESS}:{next(_CALLS)}"
        return self._key(key), self.per_minute, int(WINDOW_SECONDS * 1000), mode, member

    def _answered(self, answer: Any) -> float | None:
        if self._degraded:
            self._degraded, self._down_until = False, 0.0
            log.warning("limite de débit %s : Redis répond de nouveau, la limite est partagée", self.name)
        waited = int(answer)
        return None if waited < 0 else max(1.0, math.ceil(waited / 1000))

    def _locally(self, mode: str, key: str) -> float | None:
        if self._url is not None:
            self._fallbacks.inc()
        if mode == "hit":
            return self.local.hit(key)
        if mode == "wait":
            return self.local.wait(key)
        self.local.record(key)
        return None

    def _failed(self, err: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self._degraded:
            self._degraded = True
            log.warning(
                "limite de débit %s : Redis ne répond pas (%s), comptée dans ce processus seulement",
                self.name,
                err or type(err).__name__,
            )

    def _reachable(self) -> bool:
        if self._url is None:
            return False
        now = time.monotonic()
        if now < self._down_until:
            return False
        if self._degraded:  # one call probes Redis; the others keep counting here meanwhile
            self._down_until = now + RETRY_SECONDS
        return True

    def _async_client(self) -> PipelinedRedis | None:
        if not self._reachable():
            return None
        loop = asyncio.get_running_loop()  # a client's connections belong to one event loop
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = PipelinedRedis(str(self._url), TIMEOUT_SECONDS)
        return client

    def _sync_client(self) -> Redis | None:
        if not self._reachable():
            return None
        if self._sync is None:
            self._sync = Redis.from_url(
                str(self._url),
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
        return self._sync


async def _evalsha_async(client: PipelinedRedis, args: tuple[str, int, int, str, str]) -> Any:
    """The script by its SHA-1 (one round trip); sent whole once per Redis (after a restart, say) on NOSCRIPT."""
    try:
        return await client.execute("EVALSHA", _SHA, 1, *args)
    except NoScriptError:
        return await client.execute("EVAL", _SCRIPT, 1, *args)
