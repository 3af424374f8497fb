"""Alembic migrations, applied with `upgrade_to_head` (by `urgence up`, `urgence migrate`, the API's start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.core.db import sqlalchemy_url
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
    command.upgrade(alembic_config(database_url), "head")
