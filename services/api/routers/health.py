"""`GET /health`: 200 once the API, the database, the broker, the relay, the workers of each queue and the
scheduler all answer (the last ones by their heartbeats, see services.core.heartbeats), else 503 naming what is
down or silent."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis import Redis
from sqlalchemy import text

from services.api.schemas.health import HealthOut
from services.core.db import get_engine
from services.core.heartbeats import COMPONENTS, last_beats
from services.core.settings import get_settings

router = APIRouter(tags=["santé"])


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _broker_beats() -> dict[str, float | None] | None:
    """The last beat of each component, or None when the broker does not answer."""
    try:
        client = Redis.from_url(get_settings().require_broker_url(), socket_timeout=1, socket_connect_timeout=1)
        try:
            return last_beats(client)
        finally:
            client.close()
    except Exception:
        return None


@router.get(
    "/health",
    response_model=HealthOut,
    summary="État du service",
    description="200 quand l'API, la base de données et le courtier répondent, sinon 503 nommant ce qui est "
    "indisponible. Sans jeton.",
    response_description="Tout répond",
    responses={503: {"model": HealthOut, "description": "Un composant au moins est indisponible"}},
)
def health() -> JSONResponse:
    checks = {"api": "ok", "database": "ok" if _database_ok() else "down"}
    beats = _broker_beats()
    checks["broker"] = "ok" if beats is not None else "down"
    silence = get_settings().heartbeat_silence_seconds
    now = time.time()
    # Seconds since each component's last beat (None: never heard from since the broker has had its keys).
    silent_for: dict[str, float | None] = {}
    for component in COMPONENTS:
        last = beats.get(component) if beats is not None else None
        if beats is None:
            checks[component] = "unknown"
            continue
        age = None if last is None else max(0.0, now - last)
        checks[component] = "ok" if age is not None and age <= silence else "silent"
        silent_for[component] = None if age is None else round(age, 1)
    not_ok = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, Any] = {
        "status": "ok" if not not_ok else "down",
        "checks": checks,
        "last_beat_seconds_ago": silent_for,
    }
    if not_ok:
        down = [name for name in not_ok if checks[name] == "down"]
        silent = [name for name in not_ok if checks[name] == "silent" and silent_for[name] is not None]
        unheard = [name for name in not_ok if checks[name] == "silent" and silent_for[name] is None]
        parts = ["indisponible : " + ", ".join(down)] if down else []
        if silent:
            parts.append(f"silencieux depuis plus de {silence:g} s : " + ", ".join(silent))
        if unheard:
            parts.append("aucun battement reçu de : " + ", ".join(unheard))
        body["detail"] = " ; ".join(parts)
    return JSONResponse(body, status_code=503 if not_ok else 200)
