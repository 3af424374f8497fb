"""One validated settings class, read from the environment (`URGENCE_*`)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SmtpSecurity = Literal["none", "starttls", "tls"]
DEVELOPMENT_SECRET = "développement-uniquement-ne-pas-utiliser-en-production"


def default_fiches_dir() -> Path:
    """The project's `fiches_reflexes/`: beside `services/` in a checkout, inside it in an installed wheel."""
    checkout = PROJECT_ROOT / "fiches_reflexes"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parents[1] / "fiches_reflexes"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URGENCE_", extra="ignore")

    data_dir: Path = Path(".urgence")
    # None: `urgence up` starts the embedded PostgreSQL / Redis under `data_dir` and sets these.
    database_url: str | None = None
    broker_url: str | None = None
    fiches_dir: Path = Field(default_factory=default_fiches_dir)

    deadline_scan_seconds: float = Field(30.0, gt=0)
    # Outbox: rows still pending after this are published by the sweep; rows published but whose task has not
    # finished after `outbox_redeliver_seconds` are published again once their queue is empty at the broker (a
    # lost message costs a delay, not a signal; a backlog is not fed copies).
    outbox_sweep_seconds: float = Field(5.0, gt=0)
    outbox_redeliver_seconds: float = Field(60.0, gt=0)
    outbox_max_attempts: int = Field(10, ge=1)
    # Redis redelivers a message a killed worker had taken after this; our tasks take milliseconds.
    broker_visibility_timeout: int = Field(120, ge=5)
    task_max_retries: int = Field(5, ge=0)
    # Heartbeats of the relay, the workers and the scheduler: one every `heartbeat_every_seconds`; `/health`
    # answers 503 once one has been silent for more than `heartbeat_silence_seconds`.
    heartbeat_every_seconds: float = Field(5.0, gt=0)
    heartbeat_silence_seconds: float = Field(30.0, gt=0)

    # Alerts to leads and partners (webhooks and e-mail). A failed delivery is retried after
    # min(base × 2^n, max) seconds (n = retries so far), `alert_max_retries` times, then dead-lettered. The wait is
    # also kept under half the broker's visibility timeout: a retry waiting in a worker is never redelivered.
    alert_timeout_seconds: float = Field(5.0, gt=0)
    alert_backoff_base_seconds: float = Field(5.0, gt=0)
    alert_backoff_max_seconds: float = Field(60.0, gt=0)
    alert_max_retries: int = Field(10, ge=0)
    # E-mail alerts through an SMTP relay. None: e-mails fail and are retried, then dead-lettered, until it is set.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "alertes-urgence@example.org"
    # "starttls" (usually port 587), "tls" (implicit TLS, usually 465) or "none" (a relay of the internal
    # network). The relay's certificate is verified, against `smtp_ca_file` when set (an internal CA).
    smtp_security: SmtpSecurity = "none"
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    db_pool_size: int = Field(10, ge=1)
    max_body_bytes: int = 64 * 1024

    # Statistics: published figures hide counts below this; closed days younger than `stats_reroll_days` are
    # recomputed by each rollup run (late data), older ones never again (past semesters are frozen).
    stats_small_count_threshold: int = Field(5, ge=2)
    stats_reroll_days: int = Field(3, ge=1)
    stats_rollup_every_seconds: float = Field(3600.0, gt=0)
    stats_rollup_max_days: int = Field(400, ge=1)
    # The day in progress is rolled up so far this often; kept well under `stats.today.MAX_AGE` (5 min).
    stats_today_every_seconds: float = Field(60.0, gt=0, le=120)
    # Headless Chromium prints the dashboards to PDF (Debian package `chromium`).
    chromium_binary: str = "chromium"
    pdf_timeout_seconds: float = Field(60.0, gt=0)

    # Access and privacy. In production the server refuses to start on the development secret.
    environment: Literal["development", "production"] = "development"
    # Keys the hashes of tokens and sessions (HMAC): a copy of the database alone opens nothing.
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    token_days: int = Field(365, ge=1)  # default lifetime of a new token
    session_hours: float = Field(12.0, gt=0)  # a signed-in browser stays signed in this long
    rate_limit_per_minute: int = Field(600, ge=1)  # per token or person, shared by every API process (Redis)
    cors_origins: list[str] = Field(default_factory=list)  # none unless configured
    # Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDRs, comma-separated): the client is the
    # rightmost hop that is not one of them. None by default: the header is anyone's to write.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    retention_months: int = Field(24, ge=1)  # personal data erased this long after resolution
    retention_every_seconds: float = Field(86400.0, gt=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):  # "10.0.0.0/8, 192.0.2.7" (or a JSON list, like the other lists)
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Operations. Logs: "text" for people, "json" (one object per line) for a log collector.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # `GET /metrics` needs an admin token; with this set, each API process also serves it, open, on this port
    # (for a scraper on the internal network). Routing latency is that of the signals received this long ago.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"  # "0.0.0.0" in a container, for the scraper
    metrics_latency_window_seconds: float = Field(300.0, gt=0, le=86400)
    # Celery events (task sent, received, started, done; worker heartbeats): what Flower shows.
    celery_events: bool = True

    @model_validator(mode="after")
    def _credentials_never_in_clear(self) -> Settings:
        if self.smtp_username is not None and self.smtp_security == "none":
            raise ValueError(
                "URGENCE_SMTP_USERNAME demande URGENCE_SMTP_SECURITY=starttls ou tls (identifiants jamais en clair)"
            )
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("URGENCE_SMTP_USERNAME et URGENCE_SMTP_PASSWORD vont ensemble")
        return self

    def check_production(self) -> None:
        """Refuse to run in production with a default secret."""
        if self.environment == "production" and self.secret_key.get_secret_value() == DEVELOPMENT_SECRET:
            raise RuntimeError("URGENCE_SECRET_KEY doit être défini en production (refus de démarrer)")

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
