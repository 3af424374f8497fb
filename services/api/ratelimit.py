"""Per-caller rate limit: a sliding window counted in each API process (no round trip on the hot path).

With N API replicas a caller may reach N times the limit; the point is to stop a runaway client or a guessing
attack, not to meter. Limits are per token or person, and per address for failed authentications."""

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
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - WINDOW_SECONDS:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1.0, math.ceil(hits[0] + WINDOW_SECONDS - now))
            hits.append(now)
            if len(self._hits) > 50_000:  # forget idle callers rather than grow without bound
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - WINDOW_SECONDS}
            return None
