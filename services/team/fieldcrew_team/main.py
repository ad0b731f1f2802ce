"""Entry point: ``python -m fieldcrew_team`` or ``fieldcrew-team``."""

from __future__ import annotations

from fastapi import FastAPI
from fieldcrew_shared.service import event_sourced_app, serve

from fieldcrew_team.api import router, sync_router
from fieldcrew_team.config import Settings


def create_app(settings: Settings) -> FastAPI:
    return event_sourced_app("fieldcrew team", settings, "fieldcrew/team", [router, sync_router])


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings, "team")
