"""`GET /health`: 200 once the API, the database and the broker all answer, else 503 naming what is down."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis import Redis
from sqlalchemy import text

from services.api.schemas.health import HealthOut
from services.core.db import get_engine
from services.core.settings import get_settings

router = APIRouter(tags=["santé"])


def _database_ok() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    try:
        client = Redis.from_url(get_settings().require_broker_url(), socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


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
    checks = {
        "api": "ok",
        "database": "ok" if _database_ok() else "down",
        "broker": "ok" if _broker_ok() else "down",
    }
    down = [name for name, state in checks.items() if state != "ok"]
    body: dict[str, Any] = {"status": "ok" if not down else "down", "checks": checks}
    if down:
        body["detail"] = "indisponible : " + ", ".join(down)
    return JSONResponse(body, status_code=503 if down else 200)
