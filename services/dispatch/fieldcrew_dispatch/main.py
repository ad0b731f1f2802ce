"""Entry point: ``python -m fieldcrew_dispatch`` or ``fieldcrew-dispatch``."""

from __future__ import annotations

from fastapi import FastAPI
from fieldcrew_shared.service import Backends, event_sourced_app, serve
from fieldcrew_shared.tail import LogTail

from fieldcrew_dispatch.api import router
from fieldcrew_dispatch.config import Settings
from fieldcrew_dispatch.live import router as live_router


def create_app(settings: Settings) -> FastAPI:
    async def start_tail(app: FastAPI, backends: Backends) -> None:
        tail = LogTail(backends.store, poll=settings.live_poll)
        app.state.tail = tail
        backends.stack.push_async_callback(tail.close)

    routers = [router, live_router]
    return event_sourced_app(
        "fieldcrew dispatch", settings, "fieldcrew/dispatch", routers, start_tail
    )


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "dispatch")
