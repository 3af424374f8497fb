"""Alembic migrations, applied with `upgrade_to_head` (by `urgence up`, `urgence migrate`, the API's start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.core.clock import utc_now
from services.core.db import make_engine, session_scope, sqlalchemy_url
from services.core.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = database_url or get_settings().require_database_url()
    # Alembic's config goes through configparser: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    """Apply the migrations, then add the directory structures a newer release's seed brings (codes not in the
    table yet: what admins edited stays as it is)."""
    command.upgrade(alembic_config(database_url), "head")
    _add_new_seed_structures(database_url or get_settings().require_database_url())


def _add_new_seed_structures(database_url: str) -> None:
    from services.core.alerts.directory import seed_directory
    from services.core.territory import default_map

    engine = make_engine(database_url, pool_size=1)
    try:
        with session_scope(engine) as session:
            # A start-up step with its own engine, clock and settings: it also takes the package's territory.
            seed_directory(session, default_map(), now=utc_now())
            session.commit()
    finally:
        engine.dispose()
