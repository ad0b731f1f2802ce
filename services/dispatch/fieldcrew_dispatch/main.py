"""Entry point: ``python -m fieldcrew_dispatch`` or ``fieldcrew-dispatch``."""

from __future__ import annotations

from fastapi import FastAPI
from fieldcrew_shared.service import event_sourced_app, serve

from fieldcrew_dispatch.api import router
from fieldcrew_dispatch.config import Settings


def create_app(settings: Settings) -> FastAPI:
    return event_sourced_app("fieldcrew dispatch", settings, "fieldcrew/dispatch", [router])


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "dispatch")
