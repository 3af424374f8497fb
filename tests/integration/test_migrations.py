"""Migrations that rewrite data, run for real on a database of their own: filled at head by the real code, taken
back to the revision before, changed there as older data may be, then upgraded again."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, make_url, text

from services.core.db import get_engine, make_engine, session_scope, sqlalchemy_url
from services.core.migrations import alembic_config, upgrade_to_head
from services.core.procedures import seed_book
from services.core.territory import default_map
from services.demo.driver import Driver
from services.demo.places import grid_points

# What the statistics looked up before 0012 kept it on the situation: the reception of the signal of the first
# `opened` event naming an existing signal, else the opening.
OPENING_RECEPTION_BEFORE_0012 = text(
    """
    SELECT s.id, coalesce(o.received_at, s.opened_at) FROM situations s LEFT JOIN (
        SELECT DISTINCT ON (e.situation_id) e.situation_id, sg.received_at
          FROM events e JOIN signals sg ON sg.id = e.data->>'signal_id'
         WHERE e.type = 'opened' ORDER BY e.situation_id, e.id) o ON o.situation_id = s.id
    """
)


@pytest.fixture
def scratch_url() -> Iterator[str]:
    """A database of its own at head (dropped afterwards): a downgrade must not touch the suite's."""
    name = f"urgence_test_migration_{uuid.uuid4().hex[:8]}"
    url = make_url(sqlalchemy_url(os.environ["URGENCE_DATABASE_URL"])).set(database=name)
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        rendered = url.render_as_string(hide_password=False)
        upgrade_to_head(rendered)
        yield rendered
    finally:
        with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def opening_receptions(engine: Engine) -> dict[str, datetime]:
    with engine.connect() as connection:
        return {row[0]: row[1] for row in connection.execute(text("SELECT id, opening_received_at FROM situations"))}


def test_0012_keeps_on_each_situation_the_reception_the_statistics_looked_up(scratch_url: str) -> None:
    engine = make_engine(scratch_url, 1)
    try:
        points = iter(grid_points(default_map(), 13))
        opened_at = datetime.fromisoformat("2026-03-10T10:00:00+01:00")
        with session_scope(engine) as session:
            driver = Driver(session, seed_book(), default_map())
            ids = [driver.signal(opened_at, point=next(points))[1] for _ in range(4)]
            joined_point = next(points)
            joiner = driver.signal(opened_at, point=joined_point)[1]
            second, joined = driver.signal(opened_at + timedelta(hours=1), point=joined_point)
            assert joined == joiner
            session.commit()
        late, lost, none, plain = ids
        assert all(at == opened_at for at in opening_receptions(engine).values())  # the routing wrote it

        config = alembic_config(scratch_url)
        command.downgrade(config, "0011")
        with engine.begin() as connection:
            # Older rows, as the previous code may have left them: a signal received well before its routing,
            # a joining signal received before the opening one, an opening event naming no stored signal, a
            # situation without an opening event.
            shift = "UPDATE signals SET received_at = received_at - CAST(:by AS interval) WHERE "
            connection.execute(text(shift + "situation_id = :late"), {"late": late, "by": "90 minutes"})
            connection.execute(text(shift + "id = :second"), {"second": second, "by": "3 hours"})
            connection.execute(
                text(
                    "UPDATE events SET data = jsonb_set(data, '{signal_id}', '\"gone\"')"
                    " WHERE type = 'opened' AND situation_id = :lost"
                ),
                {"lost": lost},
            )
            connection.execute(text("DELETE FROM events WHERE situation_id = :none"), {"none": none})
            connection.execute(
                text("UPDATE situations SET opened_at = opened_at + interval '5 minutes' WHERE id IN (:lost, :none)"),
                {"lost": lost, "none": none},
            )
            before = {row[0]: row[1] for row in connection.execute(OPENING_RECEPTION_BEFORE_0012)}
        command.upgrade(config, "0012")

        assert opening_receptions(engine) == before
        assert before[late] == opened_at - timedelta(minutes=90)
        assert before[lost] == before[none] == opened_at + timedelta(minutes=5)
        assert before[joiner] == before[plain] == opened_at
    finally:
        engine.dispose()
