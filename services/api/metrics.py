"""`GET /metrics` (Prometheus text format) and what the API counts itself: HTTP requests and accepted signals.

Two kinds of figures, each where it is correct whatever the number of processes:
- counted in the API processes (HTTP requests by route template and status, signals accepted by source):
  prometheus-client counters. With `PROMETHEUS_MULTIPROC_DIR` set (`urgence up` sets it for its children; a
  host running several API processes sets one shared, emptied directory for them), every process writes its
  counts there and any of them answers with the sum. API replicas on other hosts are each scraped and summed.
- read from the database at scrape time (`services/core/metrics.py`): outbox backlog, open and overdue
  situations, routing latency, deliveries, dead letters. Work done by any worker on any host is in the
  database, so these need nothing from the workers, and every replica gives the same figures.

The middleware is plain ASGI (no `BaseHTTPMiddleware`, no per-request task or copy): a dict lookup, one counter
increment and, when the log level says so, one log line per request. It also carries the correlation id
(`services/core/logs.py`): the client's `X-Request-ID` when sane, else a fresh one, echoed in the response.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.deps import require_roles
from services.api.ratelimit import FALLBACKS as RATE_LIMIT_FALLBACKS
from services.core.access.principal import Principal
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.logs import enter_correlation, leave_correlation, new_correlation_id, sane_request_id
from services.core.metrics import LATENCY_BUCKETS, Operations, read_operations
from services.core.settings import get_settings

log = logging.getLogger("services.api.http")
REQUEST_ID = "X-Request-ID"
UNMATCHED = "unmatched"  # a path no route serves: one label for all, never the raw path
# Methods counted by name; any other a client invents is "OTHER" (labels stay few).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Not in prometheus-client's default registry: the scrape registry below decides where figures come from.
HTTP_REQUESTS = Counter(
    "urgence_http_requests",
    "Requêtes HTTP servies, par route (modèle) et statut.",
    ["method", "route", "status"],
    registry=None,
)
SIGNALS_ACCEPTED = Counter(
    "urgence_signals_accepted", "Signalements acceptés (202), par source.", ["source"], registry=None
)


class DatabaseFigures:
    """The figures read from the database, once per scrape (a custom collector)."""

    def describe(self) -> list[Metric]:
        return []  # never query at registration

    def collect(self) -> Iterator[Metric]:
        window = timedelta(seconds=get_settings().metrics_latency_window_seconds)
        with session_scope() as session:
            figures = read_operations(session, utc_now(), latency_window=window)
        yield from _families(figures)


def _families(figures: Operations) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "urgence_outbox_waiting", "Lignes d'outbox pas encore traitées, par file.", labels=["queue"]
    )
    oldest = GaugeMetricFamily(
        "urgence_outbox_oldest_age_seconds",
        "Âge de la plus ancienne ligne d'outbox non traitée, par file.",
        labels=["queue"],
    )
    for backlog in figures.backlog:
        waiting.add_metric([backlog.queue], backlog.waiting)
        oldest.add_metric([backlog.queue], backlog.oldest_age_seconds)
    yield waiting
    yield oldest

    routing = figures.routing
    buckets = [(_bound(b), float(n)) for b, n in zip(LATENCY_BUCKETS, routing.cumulative, strict=False)]
    latency = GaugeHistogramMetricFamily(
        "urgence_routing_latency_seconds",
        f"Délai réception → routage des signalements reçus dans les {routing.window_seconds:g} dernières secondes "
        "et déjà routés.",
        buckets=[*buckets, ("+Inf", float(routing.count))],
        gsum_value=routing.sum_seconds,
    )
    yield latency

    opened = GaugeMetricFamily("urgence_situations_open", "Situations ouvertes, par pilote.", labels=["lead"])
    overdue = GaugeMetricFamily(
        "urgence_situations_overdue", "Situations ouvertes dont une échéance est dépassée, par pilote.", labels=["lead"]
    )
    for load in figures.leads:
        opened.add_metric([load.lead], load.open)
        overdue.add_metric([load.lead], load.overdue)
    yield opened
    yield overdue

    deliveries = GaugeMetricFamily(
        "urgence_alert_deliveries", "Envois d'alertes, par résultat (pending, delivered, failed).", labels=["result"]
    )
    for result, count in sorted(figures.deliveries.items()):
        deliveries.add_metric([result], count)
    yield deliveries
    yield GaugeMetricFamily("urgence_dead_letters", "Lettres mortes (tâches abandonnées).", value=figures.dead_letters)


def _bound(seconds: float) -> str:
    return f"{seconds:g}"


def scrape_registry() -> CollectorRegistry:
    """Where a scrape reads: this process's counters, or every process's (multiprocess mode), and the database."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(SIGNALS_ACCEPTED)
        registry.register(RATE_LIMIT_FALLBACKS)
    registry.register(DatabaseFigures())
    return registry


router = APIRouter(tags=["exploitation"])


@router.get("/metrics", include_in_schema=False)
def metrics(_: Annotated[Principal, Depends(require_roles("admin"))]) -> Response:
    """Prometheus text format; a sync route: the database figures are read in a worker thread."""
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST)


def serve_metrics_port() -> None:
    """With `URGENCE_METRICS_PORT`, the same figures, open, on that port (for a scraper on the internal network).
    Several API processes on one host: the first binds it, the others say so and go on (with the multiprocess
    directory, the one that serves gives everyone's counts)."""
    settings = get_settings()
    if settings.metrics_port is None:
        return
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=scrape_registry())
    except OSError as err:
        log.warning("port des métriques %d déjà pris (%s) : un autre processus les sert", settings.metrics_port, err)


class HttpMetrics:
    """Counts every request by route template and status, and carries its correlation id (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = _request_id(scope) or new_correlation_id()
        echoed = (b"x-request-id", correlation_id.encode())
        status = 500  # if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        started = time.perf_counter()
        token = enter_correlation(correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            leave_correlation(token)
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            _requests(method, route, status).inc()
            if log.isEnabledFor(logging.INFO):
                elapsed = round((time.perf_counter() - started) * 1000, 2)
                extra = {"method": scope["method"], "route": route, "status": status, "duration_ms": elapsed}
                log.info("%s %s %d", scope["method"], route, status, extra={**extra, "correlation_id": correlation_id})


def count_accepted(source: str) -> None:
    """One more signal accepted from `source` (a closed list: the schema's)."""
    _accepted(source).inc()


@functools.cache
def _accepted(source: str) -> Any:
    return SIGNALS_ACCEPTED.labels(source)


@functools.cache
def _requests(method: str, route: str, status: int) -> Any:
    """The counter's child for these labels, looked up once (`labels()` costs more than the increment). Bounded:
    methods × route templates × statuses."""
    return HTTP_REQUESTS.labels(method, route, str(status))


def _request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return sane_request_id(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/signals/{signal_id}`): the router writes the route into the
    request's scope, the very dict this middleware passed down."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def install(app: FastAPI) -> None:
    """The route and the middleware, outermost (after every other `add_middleware`): it counts every answer,
    a refusal by an inner middleware included."""
    app.include_router(router)
    app.add_middleware(HttpMetrics)
