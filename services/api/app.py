"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.api import docs, metrics, openapi, problems
from services.api.deps import limiters
from services.api.headers import SecurityHeaders
from services.api.limits import RequestLimits
from services.api.routers import (
    access,
    dashboards,
    directory,
    fiches,
    health,
    pages,
    signals,
    situations,
    stats,
    weather,
)
from services.api.web import admin, capture, live, planning, situation, workspace
from services.api.web import fiches as fiche_pages
from services.api.web.static_files import static_files
from services.core.clock import utc_now
from services.core.procedures import prepare_procedures
from services.core.settings import get_settings
from services.core.territory import default_map


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    get_settings().check_production()
    # Load the procedures and the polygons before the first request: broken fiches stop the start.
    prepare_procedures(utc_now())
    default_map()
    metrics.serve_metrics_port()
    yield
    for limiter in limiters():  # the rate limits' Redis connections of this event loop
        await limiter.close()


def create_app() -> FastAPI:
    app = FastAPI(
        title="urgence — coordination des signalements d'urgence sociale",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: `docs` serves them offline
        redoc_url=None,
    )
    problems.install(app)
    openapi.install(app)
    docs.install(app)
    for module in (health, signals, situations, weather, fiches, directory, stats, dashboards, access, pages):
        app.include_router(module.router)
    app.include_router(workspace.router, include_in_schema=False)
    app.include_router(situation.router, include_in_schema=False)
    app.include_router(live.router, include_in_schema=False)
    app.include_router(planning.router, include_in_schema=False)
    app.include_router(admin.router, include_in_schema=False)
    app.include_router(fiche_pages.router, include_in_schema=False)
    app.include_router(capture.router, include_in_schema=False)
    app.mount("/static", static_files(), name="static")
    settings = get_settings()
    app.add_middleware(RequestLimits, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:  # no cross-origin access unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token"],
        )
    app.add_middleware(SecurityHeaders, https=settings.environment == "production")
    metrics.install(app)  # last: its middleware is the outermost
    return app
