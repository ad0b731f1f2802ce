"""Entry point: ``python -m fieldcrew_gateway`` or ``fieldcrew-gateway``.

The gateway holds no state but its rate-limit buckets: no event store, no database, only a
connection pool to the services it forwards to.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Response
from fieldcrew_shared import asyncapi, logs, metrics, tracing
from fieldcrew_shared.draining import DrainingServer
from fieldcrew_shared.health import readiness_of
from fieldcrew_shared.service import new_app

from fieldcrew_gateway import api, console, documents, photos, server_report
from fieldcrew_gateway.bodies import (
    FORM_ENVELOPE_BYTES,
    BodyLimits,
    BodyPolicy,
    RequestBodyGuard,
    install_body_errors,
)
from fieldcrew_gateway.config import Settings
from fieldcrew_gateway.limits import RateLimitMiddleware, TokenBuckets
from fieldcrew_gateway.proxy import API_PREFIX, CorrelationIdMiddleware, install_retry_after
from fieldcrew_gateway.server import uvicorn_config
from fieldcrew_gateway.upstreams import Upstream, open_upstreams, upstream_ready
from fieldcrew_gateway.webhooks import router as webhooks_router


async def root() -> dict[str, str]:
    """Where the API and its docs are."""
    return {"service": "fieldcrew gateway", "docs": "/docs", "api": API_PREFIX}


def event_contract() -> Callable[[], Awaitable[Response]]:
    """``GET /asyncapi.json``: the AsyncAPI 3.0 document of the events (as
    docs/asyncapi.json), made once; public, as ``/openapi.json`` is."""
    body = asyncapi.render().encode()

    async def contract() -> Response:
        return Response(body, media_type="application/json")

    return contract


def body_policy(settings: Settings) -> BodyPolicy:
    """The body limits ``settings`` ask for: photo uploads', and every other route's."""
    return BodyPolicy(
        json=BodyLimits(settings.max_json_body_bytes, settings.json_body_timeout),
        upload=BodyLimits(
            settings.max_upload_bytes + FORM_ENVELOPE_BYTES, settings.upload_body_timeout
        ),
    )


def create_app(settings: Settings) -> FastAPI:
    """The gateway app for ``settings``; its lifespan opens and closes the upstream pool."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_upstreams(settings) as upstreams:
            app.state.upstreams = upstreams
            readiness = readiness_of(app)
            # an upstream's own checks take up to backend_timeout: wait a little longer
            wait = settings.backend_timeout + 1.0
            readiness.timeout = wait + 0.5
            for upstream in Upstream:
                readiness.add(upstream.value, partial(upstream_ready, upstreams, upstream, wait))
            yield

    app = new_app("fieldcrew gateway", settings, lifespan)
    app.description = "The one HTTP entry for fieldcrew's mobile and web clients."
    install_retry_after(app)
    install_body_errors(app)
    buckets = TokenBuckets(
        settings.rate_limit_per_second, settings.rate_limit_burst, settings.rate_limit_max_keys
    )
    # Last added runs first: correlation id, then the rate limit, then the body limits.
    app.add_middleware(RequestBodyGuard, policy=body_policy(settings))
    app.add_middleware(RateLimitMiddleware, buckets=buckets, verifier=app.state.verifier)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.add_api_route("/asyncapi.json", event_contract(), methods=["GET"], include_in_schema=False)
    app.include_router(api.router)
    app.include_router(photos.router)
    app.include_router(server_report.router)
    app.include_router(documents.router)
    app.include_router(documents.share_router)
    app.include_router(webhooks_router)
    console.mount(app, settings)
    metrics.outermost(app)  # a request refused by a middleware above is counted too
    return app


def main() -> None:
    """Run the gateway with settings from the environment."""
    settings = Settings()
    logs.configure("gateway", settings.log_level)
    tracing.configure("gateway")
    try:
        config = uvicorn_config(
            create_app(settings),
            settings,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
        )
        DrainingServer(config, settings.drain_delay).run()
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
