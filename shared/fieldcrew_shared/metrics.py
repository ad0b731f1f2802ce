"""Prometheus metrics: ``GET /metrics`` on every service (docs/adr/0055-metrics.md).

The families every service shares live here: HTTP requests by route template, method and
status (:class:`MetricsMiddleware`), event-store appends, and projection plumbing. Each service
adds its own in its ``metrics`` module. One process is one service, so the default registry is
the service's; Prometheus adds ``job`` and ``instance``.

Gauges that need a round trip to read (the consumer's pending messages, the outbox) are read
when ``/metrics`` is scraped, by the app's refreshers, each bounded in time: a scrape sees
them as they are, and costs nothing between scrapes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcrew_shared.health import readiness_of
from fieldcrew_shared.tracing import TracingMiddleware

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "fieldcrew_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "fieldcrew_http_request_duration_seconds",
    "Time from a request's start to the end of its answer, by route template and method",
    ["route", "method"],
)
APPENDS = Counter(
    "fieldcrew_eventstore_appends",
    "Events appended to the log, by result: stored, duplicate (a retry JetStream dropped),"
    " conflict (another writer won; the command is decided again) or failed",
    ["result"],
)
APPEND_DURATION = Histogram(
    "fieldcrew_eventstore_append_duration_seconds",
    "Time from publishing an event to JetStream's acknowledgement",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CONFLICT_RETRIES = Counter(
    "fieldcrew_eventstore_conflict_retries",
    "Commands loaded and decided again after losing an optimistic-concurrency race",
)
EVENTS_APPLIED = Counter(
    "fieldcrew_projection_events_applied",
    "Events a projection applied and committed with its position",
    ["projection"],
)
DEAD_LETTERS = Counter(
    "fieldcrew_projection_dead_letters",
    "Events a projection could not decode or apply and set aside in its dead_letters table",
    ["projection"],
)
CONSUMER_PENDING = Gauge(
    "fieldcrew_projection_consumer_pending_messages",
    "Messages of the log the projection's durable consumer has not delivered yet (its lag)",
    ["projection"],
)
CONSUMER_ACK_PENDING = Gauge(
    "fieldcrew_projection_consumer_ack_pending_messages",
    "Messages delivered to the projection and not yet acknowledged",
    ["projection"],
)
DEAD_LETTERS_STORED = Gauge(
    "fieldcrew_projection_dead_letters_stored",
    "Rows in the live schema's dead_letters table (events waiting for a person)",
    ["projection"],
)
READY = Gauge(
    "fieldcrew_ready",
    "1 when every readiness check passes (what /readyz answers 200 for), else 0; read at"
    " each scrape",
)
READY_CHECK = Gauge(
    "fieldcrew_readiness_check",
    "1 when this readiness check passes, else 0 (the checks of /readyz); read at each scrape",
    ["check"],
)
SCRAPE_REFRESH_FAILURES = Counter(
    "fieldcrew_metrics_refresh_failures",
    "Scrapes in which a gauge could not be read from its backend (it kept its last value)",
    ["gauge"],
)

Refresher = Callable[[], Awaitable[None]]
# A request answered before a route took it: no route matched (404), or a middleware refused
# it first (the gateway's 429 and body limits; fieldcrew_gateway_rate_limited counts 429s)
UNROUTED = "unrouted"


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request by the route template that served
    it (``/work-orders/{work_order_id}/notes``, never the raw path), method and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # each series' children, looked up once: ``labels()`` checks and locks on every call
        self.series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", UNROUTED)
            key = (route, scope["method"], status)
            children = self.series.get(key)
            if children is None:
                children = self.series[key] = (
                    HTTP_REQUESTS.labels(route, key[1], str(status)),
                    HTTP_DURATION.labels(route, key[1]),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


def add_metrics(app: FastAPI, refresh_timeout: float = 2.0) -> None:
    """``GET /metrics`` on ``app`` and the middleware counting its requests. Refreshers
    (``app.state.metric_refreshers``) run before each scrape."""
    app.state.metric_refreshers = {"readiness": lambda: _readiness(app)}
    app.add_middleware(MetricsMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        refreshers: dict[str, Refresher] = request.app.state.metric_refreshers
        await asyncio.gather(*(_refresh(n, r, refresh_timeout) for n, r in refreshers.items()))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def add_refresher(app: FastAPI, name: str, refresher: Refresher) -> None:
    """Run ``refresher`` before every scrape of ``app``'s ``/metrics``."""
    app.state.metric_refreshers[name] = refresher


async def _readiness(app: FastAPI) -> None:
    outcomes = await readiness_of(app).probe()
    for name, outcome in outcomes.items():
        READY_CHECK.labels(name).set(1 if outcome.ok else 0)
    READY.set(1 if all(o.ok for o in outcomes.values()) else 0)


async def _refresh(name: str, refresher: Refresher, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await refresher()
    except Exception as exc:  # the scrape goes on; the gauge keeps its last value
        SCRAPE_REFRESH_FAILURES.labels(name).inc()
        log.warning("metric refresh failed", extra={"gauge": name, "why": repr(exc)})


def outermost(app: FastAPI) -> None:
    """Put the tracing and metrics middleware in front of every other one (call it after
    adding them), so that a request another middleware refuses (429, 413) is traced,
    counted and timed too."""
    ours = [m for m in app.user_middleware if _is_ours(m.cls)]
    rest = [m for m in app.user_middleware if not _is_ours(m.cls)]
    app.user_middleware[:] = ours + rest


def _is_ours(cls: object) -> bool:
    return cls is MetricsMiddleware or cls is TracingMiddleware
