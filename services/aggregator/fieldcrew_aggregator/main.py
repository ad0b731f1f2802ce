"""Entry point: ``python -m fieldcrew_aggregator`` or ``fieldcrew-aggregator``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.service import Backends, event_sourced_app, open_pool, serve

from fieldcrew_aggregator.api import router
from fieldcrew_aggregator.config import Settings
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_aggregator.publisher import Announcer


def create_app(settings: Settings) -> FastAPI:
    async def start_projection(app: FastAPI, backends: Backends) -> None:
        pool = await open_pool(backends.stack, settings)
        store = backends.store

        projection = ServerReportProjection()
        announcer = Announcer(store, pool, projection)
        runner = ProjectionRunner(store, pool, projection, after_commit=announcer.after_commit)
        await runner.setup()
        await announcer(runner.schema)
        app.state.runner = runner
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop), name="aggregator-projection")
        announcing = asyncio.create_task(announcer.run(), name="aggregator-announcer")

        async def finish() -> None:
            stop.set()
            try:
                await task
            finally:
                announcer.close()
                await announcing

        backends.stack.push_async_callback(finish)

    return event_sourced_app(
        "fieldcrew aggregator", settings, "fieldcrew/aggregator", [router], start_projection
    )


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "aggregator")
