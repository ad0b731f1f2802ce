"""Entry point: ``python -m fieldcrew_photos`` or ``fieldcrew-photos``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fieldcrew_shared.health import readiness_of
from fieldcrew_shared.service import new_app, open_backends, serve

from fieldcrew_photos.api import FORM_OVERHEAD, DeclaredSizeLimit, router
from fieldcrew_photos.config import Settings
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
            yield

    app = new_app("fieldcrew photos", settings, lifespan)
    # The whole request is bounded too, so an oversized body is refused before it is spooled.
    max_request = settings.max_upload_bytes + FORM_OVERHEAD
    app.add_middleware(DeclaredSizeLimit, limit=max_request)
    app.include_router(router, max_body_size=max_request)
    return app


def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # the S3 credentials come from the env
    serve(create_app(settings), settings, "photos")


if __name__ == "__main__":
    main()
