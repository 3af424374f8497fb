"""Signals that never join one another, and the checks that each was routed exactly once: shared by the
failure tests that kill processes while signals arrive."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import col, func, select

from services.core.db import session_scope
from services.core.models import DeadLetter, Event, OutboxMessage, Signal, Situation

GRID_ROWS = 12


def distinct_signal(index: int) -> dict[str, Any]:
    """Signals ≥ 200 m apart on a grid inside Paris (the 5th, 6th, 7th, 14th, 15th… for the first few hundred),
    so that none joins another."""
    return {
        "location": {"lat": 48.828 + 0.003 * (index % GRID_ROWS), "lon": 2.30 + 0.003 * (index // GRID_ROWS)},
        "source": "maraude",
        "people": {"adults": 1},
    }


def submit_all(base_url: str, headers: dict[str, str], count: int, first: int = 0) -> list[str]:
    ids = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
        for index in range(first, first + count):
            answer = http.post("/v1/signals", json=distinct_signal(index))
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
    return ids


def all_routed(ids: list[str]) -> bool:
    with session_scope() as session:
        pending = session.exec(
            select(func.count()).where(col(Signal.id).in_(ids), col(Signal.status) == "received")
        ).one()
    return pending == 0


def outbox_finished() -> bool:
    with session_scope() as session:
        return session.exec(select(func.count()).where(col(OutboxMessage.done_at).is_(None))).one() == 0


def stored_signal_ids() -> list[str]:
    with session_scope() as session:
        return list(session.exec(select(Signal.id)))


def assert_routed_exactly_once(ids: list[str]) -> None:
    """Each of `ids` routed, with one decision, its own situation and one 'opened' event; nothing else in the
    database (the signals are the only ones); the outbox all done, no dead letter."""
    with session_scope() as session:
        signals = session.exec(select(Signal).where(col(Signal.id).in_(ids))).all()
        assert len(signals) == len(ids)
        assert {s.status for s in signals} == {"routed"}
        assert all(s.decision is not None and s.routed_at is not None for s in signals)
        situation_ids = {s.situation_id for s in signals}
        assert len(situation_ids) == len(ids), "each signal opens its own situation"
        assert session.exec(select(func.count()).select_from(Situation)).one() == len(ids)
        opened = session.exec(select(Event.data).where(col(Event.type) == "opened")).all()
        assert sorted(data["signal_id"] for data in opened) == sorted(ids), "one 'opened' event per signal"
        unfinished = session.exec(select(func.count()).where(col(OutboxMessage.done_at).is_(None))).one()
        assert unfinished == 0
        assert session.exec(select(func.count()).select_from(DeadLetter)).one() == 0
