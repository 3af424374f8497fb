"""Per-caller rate limit: a sliding window counted in each API process (no round trip on the hot path).

With N API replicas a caller may reach N times the limit; the point is to stop a runaway client or a guessing
attack, not to meter. Limits are per token or person; failed authentications are counted per address, and failed
sign-ins per username with a much higher ceiling per address (one person's typos, or an attack on one name, do not
lock out the others behind the same address)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW_SECONDS = 60.0


class RateLimiter:
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
