"""Graceful drain on SIGTERM, the same in every service (docs/adr/0057-drain-and-replicas.md).

1. The first SIGTERM (or SIGINT) marks the app draining: ``/readyz`` answers 503
   (``draining``), every answer carries ``Connection: close`` and ``X-Fieldcrew-Draining: 1``
   (so the gateway drops its connections to this replica and sends the next requests to
   another), and the app's drain hooks run (the aggregator's projection stops taking
   messages).
2. ``drain_delay`` seconds later uvicorn stops listening (new connections are refused, and
   callers such as the gateway try another replica) and waits up to ``shutdown_timeout``
   seconds for the requests in flight.
3. The app's lifespan ends: background tasks stop, NATS is drained, pools close; the process
   exits 0. A second signal stops at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcrew_shared.health import NotReadyError, readiness_of

log = logging.getLogger(__name__)
# on every answer of a draining service: the gateway sends that replica nothing new
DRAINING_HEADER = b"x-fieldcrew-draining"


def add_draining(app: FastAPI) -> None:
    """The draining state of ``app``: a readiness check, ``Connection: close`` while
    draining, and ``app.state.on_drain`` hooks for services to stop their background work."""
    app.state.draining = False
    app.state.on_drain = []

    async def not_draining() -> None:
        if app.state.draining:
            raise NotReadyError("draining: shutting down")

    readiness_of(app).add("draining", not_draining)
    app.add_middleware(CloseWhileDraining, owner=app)


def on_drain(app: FastAPI, hook: Callable[[], Awaitable[None]]) -> None:
    """Await ``hook`` when ``app`` starts draining (on the event loop, within 0.1 s of the
    signal; the requests go on being served meanwhile)."""
    app.state.on_drain.append(hook)


class CloseWhileDraining:
    """ASGI middleware: while draining, every answer closes its connection."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.owner.state.draining:
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                headers += [(b"connection", b"close"), (DRAINING_HEADER, b"1")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """uvicorn, draining first on a signal (see the module's docstring) and exiting 0."""

    def __init__(self, config: uvicorn.Config, drain_delay: float) -> None:
        super().__init__(config)
        self.drain_delay = drain_delay
        self.draining_since: float | None = None
        self.hooks: list[Callable[[], Awaitable[None]]] = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # not recorded for uvicorn to raise again after shutdown: a drained service exits 0
        if self.draining_since is not None:
            self.should_exit = self.force_exit = True  # a second signal: stop now
            return
        self.draining_since = time.monotonic()
        app = self.config.app
        if isinstance(app, FastAPI) and hasattr(app.state, "on_drain"):
            app.state.draining = True
            self.hooks = list(app.state.on_drain)
        log.info("draining", extra={"signal": sig, "delay": self.drain_delay})

    async def on_tick(self, counter: int) -> bool:
        since = self.draining_since
        if since is not None:
            hooks, self.hooks = self.hooks, []
            for hook in hooks:
                await hook()
            if time.monotonic() - since >= self.drain_delay:
                self.should_exit = True
        return await super().on_tick(counter)
