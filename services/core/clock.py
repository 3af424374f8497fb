"""Time is injected: core functions take `now`; only the edges (routes, tasks, CLI) read the real clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
