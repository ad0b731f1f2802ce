"""The web console at ``/console/``: static files shipped in this package (no build step,
nothing fetched from elsewhere at run time) and the sign-in settings they read.

The console is a client of ``/api/v1`` like any other: it holds the user's bearer token in
the tab's session storage and the API decides what each role may do (docs/adr/0049).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fieldcrew_shared.settings import Mode
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcrew_gateway.config import Settings

PREFIX = "/console"
FILES = Path(__file__).parent / "console"


def sign_in_settings(settings: Settings) -> dict[str, object]:
    """What the sign-in page offers: OIDC when configured, pasting a token in local mode."""
    oidc = None
    if settings.oidc_authorization_url and settings.oidc_token_url and settings.oidc_client_id:
        oidc = {
            "authorization_url": settings.oidc_authorization_url,
            "token_url": settings.oidc_token_url,
            "client_id": settings.oidc_client_id,
            "scope": settings.oidc_scope,
            "audience": settings.oidc_audience,
        }
    return {"local": settings.mode is Mode.local, "oidc": oidc}


def content_policy(settings: Settings) -> str:
    """The console's Content-Security-Policy: its own scripts and styles only; photos come
    from presigned object-storage URLs; the token endpoint is the one other place it calls."""
    connect = ["'self'"]
    if settings.oidc_token_url:
        parts = urlsplit(settings.oidc_token_url)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https:; "
        f"connect-src {' '.join(connect)}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class ConsoleHeaders:
    """Security headers on every answer under ``/console``."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", self.policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the console under ``/console/`` and its sign-in settings."""
    config = sign_in_settings(settings)

    async def console_config() -> JSONResponse:
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    async def to_console() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    app.add_api_route(f"{PREFIX}/config.json", console_config, include_in_schema=False)
    app.add_api_route(PREFIX, to_console, include_in_schema=False)
    files = ConsoleHeaders(StaticFiles(directory=FILES, html=True), content_policy(settings))
    app.mount(PREFIX, files, name="console")
