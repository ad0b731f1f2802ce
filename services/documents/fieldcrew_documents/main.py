"""Entry point: ``python -m fieldcrew_documents`` or ``fieldcrew-documents``."""

from __future__ import annotations

from fastapi import FastAPI
from fieldcrew_shared.health import readiness_of
from fieldcrew_shared.service import Backends, event_sourced_app, serve

from fieldcrew_documents.api import router, share_router
from fieldcrew_documents.config import Settings
from fieldcrew_documents.storage import PhotoCopies, http_pool

SOURCE = "fieldcrew/documents"


def create_app(settings: Settings) -> FastAPI:
    """The documents app: the event log and a read-only client of the photo bucket."""

    async def open_bucket(app: FastAPI, backends: Backends) -> None:
        http = http_pool()
        backends.stack.callback(http.clear)
        copies = PhotoCopies.from_settings(settings, http)
        readiness_of(app).add("s3", copies.ready)
        app.state.copies = copies

    return event_sourced_app(
        "fieldcrew documents", settings, SOURCE, [router, share_router], open_bucket
    )


def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # the S3 credentials come from the env
    serve(create_app(settings), settings, "documents")


if __name__ == "__main__":
    main()
