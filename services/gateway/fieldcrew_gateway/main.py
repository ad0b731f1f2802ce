"""Entry point: ``python -m fieldcrew_gateway`` or ``fieldcrew-gateway``.

The gateway holds no state: no event store, no database, only a connection pool to the
services it forwards to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fieldcrew_shared.service import new_app, serve

from fieldcrew_gateway.api import router
from fieldcrew_gateway.config import Settings
from fieldcrew_gateway.proxy import (
    API_PREFIX,
    CorrelationIdMiddleware,
    install_retry_after,
    open_upstreams,
)


async def root() -> dict[str, str]:
    """Where the API and its docs are."""
    return {"service": "fieldcrew gateway", "docs": "/docs", "api": API_PREFIX}


def create_app(settings: Settings) -> FastAPI:
    """The gateway app for ``settings``; its lifespan opens and closes the upstream pool."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_upstreams(settings) as upstreams:
            app.state.upstreams = upstreams
            yield

    app = new_app("fieldcrew gateway", settings, lifespan)
    app.description = "The one HTTP entry for fieldcrew's mobile and web clients."
    install_retry_after(app)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.include_router(router)
    return app


def main() -> None:
    """Run the gateway with settings from the environment."""
    settings = Settings()
    serve(create_app(settings), settings, "gateway")


if __name__ == "__main__":
    main()
