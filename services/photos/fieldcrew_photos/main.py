"""Entry point: ``python -m fieldcrew_photos`` or ``fieldcrew-photos``.

Beside the API, the rendition worker runs as a supervised background task (docs/adr/0026,
docs/adr/0050): a failure is logged with its traceback and the worker starts again with
backoff, and ``/readyz`` answers 503 while it is down and shows its lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fieldcrew_shared import metrics
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.health import Readiness, readiness_of
from fieldcrew_shared.service import new_app, open_backends, serve
from fieldcrew_shared.supervision import Supervised

from fieldcrew_photos.api import FORM_OVERHEAD, DeclaredSizeLimit, router
from fieldcrew_photos.config import Settings
from fieldcrew_photos.consumer import RenditionMaker, RenditionWorker, Retry
from fieldcrew_photos.copier import Copier
from fieldcrew_photos.storage import PhotoStorage, http_pool

SOURCE = "fieldcrew/photos"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        readiness = readiness_of(app)
        async with open_backends(settings, SOURCE, readiness) as backends:
            storage = PhotoStorage.from_settings(settings, http_pool(settings.backend_timeout))
            backends.stack.callback(storage.close)
            await storage.ensure_bucket()
            readiness.add("s3", storage.ready)
            app.state.store = backends.store
            app.state.storage = storage
            if settings.rendition_lanes > 0:
                app.state.renditions = await start_renditions(
                    settings, backends.store, storage, backends.stack, readiness
                )
            yield

    app = new_app("fieldcrew photos", settings, lifespan)
    # The whole request is bounded too, so an oversized body is refused before it is spooled.
    max_request = settings.max_upload_bytes + FORM_OVERHEAD
    app.add_middleware(DeclaredSizeLimit, limit=max_request)
    app.include_router(router, max_body_size=max_request)
    metrics.outermost(app)  # an upload refused by DeclaredSizeLimit is counted too
    return app


async def start_renditions(
    settings: Settings,
    store: EventStore,
    storage: PhotoStorage,
    stack: AsyncExitStack,
    readiness: Readiness,
) -> RenditionWorker:
    """Start the supervised rendition worker once its durable consumer exists; it stops
    (finishing the photos in hand) before the connections close."""
    copier = Copier(settings)
    stack.callback(copier.close)
    maker = RenditionMaker(store, storage, copier)
    retry = Retry(settings.rendition_attempts, settings.rendition_retry_seconds)
    worker = RenditionWorker(store, maker, lanes=settings.rendition_lanes, retry=retry)
    await worker.ensure_consumer()
    stop = asyncio.Event()
    supervised = Supervised("renditions", lambda: worker.run(stop), on_stop=stop.set)
    readiness.add("renditions", supervised.check)
    readiness.add("renditions_lag", worker.lag)
    supervised.start()
    stack.push_async_callback(supervised.stop)
    return worker


def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # the S3 credentials come from the env
    serve(create_app(settings), settings, "photos")


if __name__ == "__main__":
    main()
