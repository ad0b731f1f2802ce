"""Entry point: ``python -m fieldcrew_aggregator`` or ``fieldcrew-aggregator``.

The projection runner and the announcer run as supervised background tasks: a failure is
logged with its traceback and the task starts again with backoff, and ``/readyz`` answers 503
while either is down (docs/adr/0026). So do the webhook projection and sender (ADR 0043).
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fieldcrew_shared.draining import on_drain
from fieldcrew_shared.health import readiness_of
from fieldcrew_shared.metrics import add_refresher
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.service import Backends, event_sourced_app, open_pool, serve
from fieldcrew_shared.supervision import Supervised

from fieldcrew_aggregator import metrics
from fieldcrew_aggregator.api import router
from fieldcrew_aggregator.config import Settings
from fieldcrew_aggregator.projection import ServerReportProjection
from fieldcrew_aggregator.publisher import Announcer
from fieldcrew_aggregator.webhooks.api import router as webhooks_router
from fieldcrew_aggregator.webhooks.worker import start_webhooks


def create_app(settings: Settings) -> FastAPI:
    async def start_projection(app: FastAPI, backends: Backends) -> None:
        readiness = readiness_of(app)
        pool = await open_pool(backends.stack, settings, readiness)
        store = backends.store
        projection = ServerReportProjection()
        announcer = Announcer(store, pool, projection, interval=settings.outbox_flush_interval)
        runner = ProjectionRunner(store, pool, projection, after_commit=announcer.after_commit)
        announcer.live_schema = lambda: runner.schema
        await runner.setup()
        app.state.runner = runner
        stop = asyncio.Event()
        projecting = Supervised("projection", lambda: runner.run(stop), on_stop=stop.set)
        announcing = Supervised("announcer", announcer.run, on_stop=announcer.close)
        readiness.add("projection", projecting.check)
        readiness.add("announcer", announcing.check)
        readiness.add("lag", runner.lag)
        add_refresher(app, "aggregator", metrics.refresher(runner, pool))
        projecting.start()
        announcing.start()
        app.state.webhooks, stop_webhooks = await start_webhooks(settings, store, pool, readiness)
        on_drain(app, projecting.stop)  # no new messages; the announcer goes on to the end

        async def finish() -> None:
            try:
                await stop_webhooks()
                await projecting.stop()
            finally:
                await announcing.stop()  # after the runner: it announces the last commits

        backends.stack.push_async_callback(finish)

    return event_sourced_app(
        "fieldcrew aggregator",
        settings,
        "fieldcrew/aggregator",
        [router, webhooks_router],
        start_projection,
    )


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "aggregator")
