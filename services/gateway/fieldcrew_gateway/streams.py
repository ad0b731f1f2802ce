"""Forwarding a stream: Server-Sent Events from the service that owns them, relayed to the
client chunk by chunk as they come (ADR 0037).

The upstream's answer is not read whole (it never ends): its head decides (an error is relayed
as any answer), then its body is copied as it arrives, with no buffering in between. A client
that goes away closes the upstream connection; an upstream that goes away ends the client's
stream, and the client reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from fieldcrew_shared.errors import BackendUnavailableError

from fieldcrew_gateway.proxy import FORWARDED_REQUEST_HEADERS, RELAYED_RESPONSE_HEADERS
from fieldcrew_gateway.upstreams import UNREACHABLE, Upstream, upstreams_of

log = logging.getLogger(__name__)

STREAM_HEADERS = frozenset({*FORWARDED_REQUEST_HEADERS, "last-event-id", "accept"})
READ_TIMEOUT = 120.0
"""Seconds without a byte from the upstream before the stream is taken for dead (heartbeats
come every 15 s by default)."""


async def forward_stream(request: Request, upstream: Upstream, path: str) -> Response:
    """Open ``path`` on ``upstream`` and relay its event stream; its error answer as is."""
    upstreams = upstreams_of(request)
    headers = {
        name: value for name, value in request.headers.items() if name.lower() in STREAM_HEADERS
    }
    url = upstreams.url(upstream, path, request.url.query)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=READ_TIMEOUT)
    try:
        answer = await upstreams.client.get(url, headers=headers, timeout=timeout)
    except UNREACHABLE as exc:
        raise BackendUnavailableError(f"{upstream} is not reachable, retry later") from exc
    log.info("streaming", extra={"method": "GET", "upstream": url, "status": answer.status})
    relayed = {
        name: value
        for name in RELAYED_RESPONSE_HEADERS
        if (value := answer.headers.get(name)) is not None
    }
    if answer.status != 200:
        try:
            body = await answer.read()
        finally:
            answer.release()
        return Response(body, answer.status, headers=relayed)
    relayed |= {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(_relay(answer), 200, headers=relayed)


async def _relay(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.content.iter_any():
            yield chunk
    except UNREACHABLE as exc:  # the upstream went away: the stream ends here
        log.warning("stream ended by its upstream", extra={"why": repr(exc)})
    finally:
        with contextlib.suppress(Exception):
            answer.close()  # not back to the pool: the stream was not read to its end
