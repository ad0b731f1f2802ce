"""Serving the gateway: uvicorn with limits on slow and oversized request heads.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and h11 refuses a request
head larger than ``max_incomplete_event_size``, but neither bounds how long a client may take
to send a head: every byte received cancels the keep-alive timer, so a client trickling one
header byte at a time holds its connection forever (slowloris). ``HeadDeadlineProtocol`` adds
that bound: from the moment the connection opens, or a response ends, the next request's head
must be complete within ``request_head_timeout`` or the connection is closed. Slow bodies are
bounded in the app (``fieldcrew_gateway.bodies``).
"""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from fieldcrew_gateway.config import Settings

log = logging.getLogger(__name__)


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head arrives too slowly."""

    head_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None
    _waiting_after: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self.cycle is not self._waiting_after:
            self._stop_waiting()  # a new request's head was parsed

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:
            self._await_head()  # no pipelined request has started yet

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._waiting_after = self.cycle
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is self._waiting_after and not self.transport.is_closing():
            log.info("request head too slow, connection closed", extra={"client": self.client})
            self.transport.close()


def head_deadline_protocol(seconds: float) -> type[HeadDeadlineProtocol]:
    """``HeadDeadlineProtocol`` with a head deadline of ``seconds``."""

    class Configured(HeadDeadlineProtocol):
        head_timeout = seconds

    return Configured


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: object) -> uvicorn.Config:
    """The uvicorn configuration of the gateway: its address and its connection limits."""
    trusted = settings.trusted_proxies.strip()
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "http": head_deadline_protocol(settings.request_head_timeout),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "h11_max_incomplete_event_size": settings.max_request_head_bytes,
        # X-Forwarded-For is believed only from the configured load balancers.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "log_config": None,
        "access_log": False,
        **overrides,
    }
    return uvicorn.Config(app, **options)  # type: ignore[arg-type]
