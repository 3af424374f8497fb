"""The framework's limit, for comparison: a bare FastAPI endpoint doing one INSERT into the same database,
with the same engine settings, server and worker count as the real API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from services.core.db import get_engine


def create_app() -> FastAPI:
    app = FastAPI()

    @app.on_event("startup")
    def _table() -> None:
        with get_engine().begin() as connection:
            connection.execute(
                text("CREATE TABLE IF NOT EXISTS bench_bare (id text PRIMARY KEY, at timestamptz, body jsonb)")
            )

    @app.post("/bare", status_code=202)
    def bare(body: dict[str, Any]) -> dict[str, str]:
        row_id = str(uuid.uuid4())
        with get_engine().begin() as connection:
            connection.execute(
                text("INSERT INTO bench_bare (id, at, body) VALUES (:id, :at, CAST(:body AS jsonb))"),
                {"id": row_id, "at": datetime.now(UTC), "body": "{}"},
            )
        return {"id": row_id}

    return app
