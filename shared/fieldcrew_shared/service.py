"""What every service does at start and stop: logs, NATS, the event store, the token verifier,
``/healthz`` and ``/readyz`` (:mod:`fieldcrew_shared.health`).

Resources open in the app's ``lifespan`` (never at import) and close in reverse order;
shutdown drains NATS so in-flight publishes finish. Whoever opens a resource adds its
readiness check.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request

from fieldcrew_shared import logs, tracing
from fieldcrew_shared.commands import EventLog
from fieldcrew_shared.database import postgres_ready
from fieldcrew_shared.draining import DrainingServer, add_draining
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.eventstore import EventStore, connect
from fieldcrew_shared.health import (
    Details,
    NotReadyError,
    Readiness,
    add_health,
    readiness_of,
)
from fieldcrew_shared.metrics import add_metrics
from fieldcrew_shared.natsclient import inbox_prefix
from fieldcrew_shared.settings import DatabaseSettings, ServiceSettings
from fieldcrew_shared.tracing import FASTAPI_TELEMETRY, TracingMiddleware
from fieldcrew_shared.web import install_error_handlers


@dataclass
class Backends:
    """The live connections of one service process."""

    store: EventStore
    stack: AsyncExitStack


@asynccontextmanager
async def open_backends(
    settings: ServiceSettings, source: str, readiness: Readiness | None = None
) -> AsyncIterator[Backends]:
    """Connect to NATS, make sure the stream exists; drain on exit. With ``readiness``, adds
    the check ``nats``: connected, and the stream answers."""
    async with AsyncExitStack() as stack:
        nc = await connect(
            settings.nats_url,
            name=source,
            ping_interval=settings.nats_ping_interval,
            inbox_prefix=inbox_prefix(source.removeprefix("fieldcrew/")),
        )
        stack.push_async_callback(nc.drain)
        store = EventStore(
            nc, source=source, stream=settings.stream, timeout=settings.backend_timeout
        )
        await store.ensure_stream(replicas=settings.stream_replicas)
        if readiness is not None:
            readiness.add("nats", lambda: nats_ready(store))
        yield Backends(store=store, stack=stack)


async def nats_ready(store: EventStore) -> Details:
    """Readiness: connected to NATS, and the stream answers (a round trip to the server)."""
    if not store.nc.is_connected:
        raise NotReadyError("not connected to NATS (reconnecting)")
    return {"last_seq": await store.last_sequence()}


async def open_pool(
    stack: AsyncExitStack, settings: DatabaseSettings, readiness: Readiness | None = None
) -> asyncpg.Pool:
    """An asyncpg pool closed with ``stack``. Connecting is bounded by ``backend_timeout``
    and every statement by ``database_command_timeout`` unless it says otherwise. With
    ``readiness``, adds the check ``postgres``."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=1,
            max_size=10,
            timeout=settings.backend_timeout,
            command_timeout=settings.database_command_timeout,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError("PostgreSQL is not reachable") from exc
    stack.push_async_callback(pool.close)
    if readiness is not None:
        readiness.add("postgres", lambda: postgres_ready(pool, settings.backend_timeout))
    return pool


def new_app(title: str, settings: ServiceSettings, lifespan: object) -> FastAPI:
    """A FastAPI app with fieldcrew's error shape, ``/healthz`` and ``/readyz`` (checks go to
    ``app.state.readiness``), ``/metrics`` (:mod:`fieldcrew_shared.metrics`) and token
    verifier."""
    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=lifespan,  # type: ignore[arg-type]
        telemetry=FASTAPI_TELEMETRY,  # type: ignore[arg-type]
    )
    app.state.settings = settings
    app.state.verifier = settings.verifier()
    install_error_handlers(app)
    add_health(app, timeout=settings.backend_timeout)
    add_metrics(app, refresh_timeout=settings.backend_timeout)
    add_draining(app)
    app.add_middleware(TracingMiddleware)
    return app


Startup = Callable[[FastAPI, Backends], Awaitable[None]]


def event_sourced_app(
    title: str,
    settings: ServiceSettings,
    source: str,
    routers: list[APIRouter],
    on_startup: Startup | None = None,
) -> FastAPI:
    """A service app whose lifespan opens NATS and the event store (``app.state.store``);
    ``on_startup`` opens the service's other resources on ``backends.stack``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_backends(settings, source, readiness_of(app)) as backends:
            app.state.store = backends.store
            if on_startup is not None:
                await on_startup(app, backends)
            yield

    app = new_app(title, settings, lifespan)
    for router in routers:
        app.include_router(router)
    return app


def store_of(request: Request) -> EventStore:
    """The event store the app's lifespan opened."""
    store: EventStore = request.app.state.store
    return store


Log = Annotated[EventLog, Depends(store_of)]
"""A route's dependency on the event log (the app's ``EventStore``), typed as what the command
pipeline and queries need of it."""


def serve(app: FastAPI, settings: ServiceSettings, service: str) -> None:
    """Run ``app`` with uvicorn until SIGINT/SIGTERM, then drain
    (:mod:`fieldcrew_shared.draining`)."""
    logs.configure(service, settings.log_level)
    tracing.configure(service)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
    )
    try:
        DrainingServer(config, settings.drain_delay).run()
    finally:
        tracing.shutdown()  # what is still buffered goes out
