"""`GET /health`: 200 once the API, the database and the broker all answer, else 503 naming what is down."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis import Redis
from sqlalchemy import text

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


@router.get("/health")
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
