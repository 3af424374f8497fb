"""One validated settings class, read from the environment (`URGENCE_*`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URGENCE_", extra="ignore")

    data_dir: Path = Path(".urgence")
    # None: `urgence up` starts the embedded PostgreSQL / Redis under `data_dir` and sets these.
    database_url: str | None = None
    broker_url: str | None = None
    fiches_dir: Path = PROJECT_ROOT / "fiches_reflexes"

    deadline_scan_seconds: float = Field(30.0, gt=0)
    # Outbox: rows still pending after this are published by the sweep; rows published but whose task has not
    # finished after `outbox_redeliver_seconds` are published again (a lost message costs a delay, not a signal).
    outbox_sweep_seconds: float = Field(5.0, gt=0)
    outbox_redeliver_seconds: float = Field(60.0, gt=0)
    outbox_max_attempts: int = Field(10, ge=1)
    # Redis redelivers a message a killed worker had taken after this; our tasks take milliseconds.
    broker_visibility_timeout: int = Field(120, ge=5)
    task_max_retries: int = Field(5, ge=0)

    db_pool_size: int = Field(10, ge=1)
    max_body_bytes: int = 64 * 1024

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("URGENCE_DATABASE_URL n'est pas défini (lancez `urgence up` ou définissez-le)")
        return self.database_url

    def require_broker_url(self) -> str:
        if not self.broker_url:
            raise RuntimeError("URGENCE_BROKER_URL n'est pas défini (lancez `urgence up` ou définissez-le)")
        return self.broker_url


@cache
def get_settings() -> Settings:
    return Settings()
