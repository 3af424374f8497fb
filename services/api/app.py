"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api import problems
from services.api.limits import BodySizeLimit
from services.api.routers import health, signals, situations, weather
from services.core.procedures import active_fiches
from services.core.settings import get_settings
from services.core.territory import default_map


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # Load the procedures and the polygons before the first request: broken fiches stop the start.
    active_fiches()
    default_map()
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="urgence — coordination des signalements d'urgence sociale",
        version="1",
        lifespan=lifespan,
    )
    problems.install(app)
    for module in (health, signals, situations, weather):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)
    return app
