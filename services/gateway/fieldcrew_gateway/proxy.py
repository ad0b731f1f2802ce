"""Forwarding: one function sends a client's request to the service that owns it.

The gateway checks the token and the input itself, then calls the owning service at the same
path without the ``/api/v1`` prefix. Only the headers named below cross, in each direction;
the service's status and body come back unchanged (its errors are already fieldcrew's JSON
error shape, so they are not wrapped again). A service that does not answer becomes a 503
``backend_unavailable`` with ``Retry-After``. The services and their replicas, and the pool of
connections to them: :mod:`.upstreams`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from uuid import uuid4

import aiohttp
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fieldcrew_shared import tracing
from fieldcrew_shared.errors import BackendUnavailableError, UploadRejectedError
from fieldcrew_shared.web import error_body
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcrew_gateway.metrics import UPSTREAM_ERRORS
from fieldcrew_gateway.replicas import DRAINING, may_send_again
from fieldcrew_gateway.upstreams import UNREACHABLE, Upstream, replica_url, upstreams_of

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
CORRELATION_ID = "x-correlation-id"
MAX_CORRELATION_ID = 200
FORWARDED_REQUEST_HEADERS = (
    "authorization",
    "idempotency-key",
    CORRELATION_ID,
    "x-occurred-at",
    "content-type",
    # The body is forwarded byte for byte, so its length stays true (and an upload is then
    # sent with a length instead of chunked).
    "content-length",
)
RELAYED_RESPONSE_HEADERS = (
    "content-type",
    "location",
    "idempotent-replayed",
    "retry-after",
    "www-authenticate",
    # documents: PDFs are downloads, and shared pages must not be cached, indexed or leak
    # their token in a Referer
    "content-disposition",
    "cache-control",
    "content-security-policy",
    "referrer-policy",
    "x-robots-tag",
    "x-content-type-options",
)
_FORWARDED = frozenset(FORWARDED_REQUEST_HEADERS)
RETRY_AFTER_SECONDS = 1


async def forward(
    request: Request,
    upstream: Upstream,
    path: str,
    content: AsyncIterator[bytes] | None = None,
) -> Response:
    """Send ``request`` to ``upstream`` at ``path`` and answer with what it answers.

    The body sent is ``content`` when given (a stream), else the request's body; the query
    string and ``FORWARDED_REQUEST_HEADERS`` go along. ``BackendUnavailableError`` when the
    service cannot be reached or does not answer in time.
    """
    upstreams = upstreams_of(request)
    failed: list[Exception] = []  # what the client's streamed body raised, if anything
    body = _watched(content, failed) if content is not None else (await request.body() or None)
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:  # one pass (each .get() is another)
        if (name := raw_name.decode("latin-1")) in _FORWARDED and name not in headers:
            headers[name] = raw_value.decode("latin-1")
    tracing.inject(headers)  # the service's span joins this request's trace
    replicas = upstreams.replicas[upstream]
    order = replicas.order()
    timeout = upstreams.upload_timeout if content is not None else upstreams.timeout
    for turn, base in enumerate(order):
        url = replica_url(base, path, request.url.query)
        try:
            async with upstreams.client.request(
                request.method,
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=timeout,
            ) as answer:
                answered = await answer.read()
            if DRAINING in answer.headers:  # it is going away: send the next ones elsewhere
                replicas.rest(base)
            break
        except Exception as exc:
            if failed:  # the client's body broke off (too large, too slow): its error, not a 503
                raise failed[0] from exc
            if not isinstance(exc, UNREACHABLE):
                raise
            UPSTREAM_ERRORS.labels(upstream.value, "unreachable").inc()
            if isinstance(exc, aiohttp.ClientConnectorError):
                replicas.rest(base)
            if turn == len(order) - 1 or not may_send_again(exc, request.method):
                raise BackendUnavailableError(f"{upstream} is not reachable, retry later") from exc
    # one line a forwarded call, as httpx used to log them (ops read it as the access log)
    log.info(
        "forwarded",
        extra={"method": request.method, "upstream": url, "status": answer.status},
    )
    relayed = {
        name: value
        for name in RELAYED_RESPONSE_HEADERS
        if (value := answer.headers.get(name)) is not None
    }
    if answer.status >= 500:
        UPSTREAM_ERRORS.labels(upstream.value, "5xx").inc()
    if answer.status == 503:  # a service whose own backend is down: clients may retry
        relayed.setdefault("retry-after", str(RETRY_AFTER_SECONDS))
    return Response(answered, answer.status, headers=relayed)


async def _watched(source: AsyncIterator[bytes], failed: list[Exception]) -> AsyncIterator[bytes]:
    """``source`` as it is, noting what it raised: aiohttp reports an error of the body it
    sends as a broken connection, which is not what the client is to be told."""
    try:
        async for chunk in source:
            yield chunk
    except Exception as exc:
        failed.append(exc)
        raise


def upload_body(request: Request) -> AsyncIterator[bytes]:
    """The request body as a stream, for a photo upload; 415 unless it is multipart.

    Its size and read deadline are enforced while it streams (``fieldcrew_gateway.bodies``).
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejectedError(
            "a photo is uploaded as multipart/form-data with a `file` field",
            status=415,
            code="unsupported_media_type",
        )
    return request.stream()


def install_retry_after(app: FastAPI) -> None:
    """Answer ``BackendUnavailableError`` with 503 and ``Retry-After`` (clients may retry)."""

    @app.exception_handler(BackendUnavailableError)
    async def _unavailable(_: Request, exc: BackendUnavailableError) -> JSONResponse:
        log.warning("upstream unavailable", extra={"code": exc.code, "reason": exc.message})
        return JSONResponse(
            error_body(exc.code, exc.message),
            exc.status,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class CorrelationIdMiddleware:
    """Give every request an ``X-Correlation-Id`` (the client's, or a new one) and return it.

    The id is put into the request's headers, so ``forward`` passes it to the service.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = MutableHeaders(scope=scope)
        correlation_id = headers.get(CORRELATION_ID, "").strip()
        if not correlation_id or len(correlation_id) > MAX_CORRELATION_ID:
            correlation_id = str(uuid4())
        headers[CORRELATION_ID] = correlation_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_ID] = correlation_id
            await send(message)

        await self.app(scope, receive, send_with_id)
