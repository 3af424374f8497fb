"""Real services for the whole suite: the PostgreSQL and Redis named by URGENCE_TEST_DATABASE_URL /
URGENCE_TEST_BROKER_URL (CI), else embedded ones started once for the session. Each run gets a fresh database,
migrated once; integration tests empty it before they start, so no test depends on another's data or order."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import redis

from services.core.db import sqlalchemy_url


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    server = base.rsplit("/", 1)[0]
    return f"{server}/{name}" + (f"?{query}" if query else "")


def _plain(url: str) -> str:
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def _start_services(config: pytest.Config) -> tuple[str, str]:
    database_url = os.environ.get("URGENCE_TEST_DATABASE_URL")
    broker_url = os.environ.get("URGENCE_TEST_BROKER_URL")
    if database_url and broker_url:
        return database_url, broker_url
    from services.core.settings import Settings
    from services.launcher.embedded import ensure_services

    data_dir = Path(os.environ.get("URGENCE_TEST_DATA_DIR", Path(tempfile.gettempdir()) / "urgence-test-services"))
    data_dir.mkdir(parents=True, exist_ok=True)
    urls = ensure_services(Settings(data_dir=data_dir, database_url=database_url, broker_url=broker_url))
    config.stash[_EMBEDDED] = urls.stop  # stopped when the session ends: no process left behind
    assert urls.broker_url is not None
    return urls.database_url, urls.broker_url


def pytest_configure(config: pytest.Config) -> None:
    server_url, broker_url = _start_services(config)
    name = f"urgence_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_plain(server_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = _with_database(server_url, name)
    redis.Redis.from_url(broker_url).flushdb()
    os.environ["URGENCE_DATABASE_URL"] = database_url
    os.environ["URGENCE_BROKER_URL"] = broker_url
    # Short outbox and broker timings: redelivery is exercised in seconds, not minutes.
    os.environ.setdefault("URGENCE_OUTBOX_REDELIVER_SECONDS", "3")
    os.environ.setdefault("URGENCE_BROKER_VISIBILITY_TIMEOUT", "5")
    # Heartbeats every second: a test waiting for /health to see a component waits that long, not 5 s.
    os.environ.setdefault("URGENCE_HEARTBEAT_EVERY_SECONDS", "1")
    from services.core.migrations import upgrade_to_head
    from services.core.settings import get_settings

    get_settings.cache_clear()
    upgrade_to_head(database_url)
    config.stash[_DATABASE] = (server_url, name)


def pytest_unconfigure(config: pytest.Config) -> None:
    server_url, name = config.stash.get(_DATABASE, (None, None))
    if server_url is None:
        return
    from services.core.db import get_engine

    get_engine().dispose()
    with psycopg.connect(_plain(server_url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    stop_embedded = config.stash.get(_EMBEDDED, None)
    if stop_embedded is not None:
        stop_embedded()


_DATABASE = pytest.StashKey[tuple[str, str]]()
_EMBEDDED = pytest.StashKey[Callable[[], object]]()


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ["URGENCE_DATABASE_URL"]


@pytest.fixture(scope="session")
def broker_url() -> str:
    return os.environ["URGENCE_BROKER_URL"]


# One Playwright browser for the whole session, defined here once: Playwright's sync API cannot run two instances
# at a time, and a fixture imported into two conftests would be two fixtures.
from tests.support.browser import browser  # noqa: E402, F401
