"""Request bodies: a size limit and a read deadline for every route.

Photo uploads get the upload limit and deadline, every other route (JSON) the smaller JSON
ones. A declared ``Content-Length`` over the limit is refused (413) before anything is read
or forwarded; a body without one (chunked) is counted as it arrives and cut off (413) the
moment it passes the limit, so at most one chunk past the limit is ever held. A client that
sends its body more slowly than the deadline allows gets 408, and the connection is closed.

After a 413 the connection stays open while uvicorn reads and drops the rest of the body, so
that a client still sending sees the answer instead of a connection reset; the request-head
deadline (``fieldcrew_gateway.server``) bounds how long that may take.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fieldcrew_shared.web import error_body
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcrew_gateway.proxy import API_PREFIX

UPLOAD_PATH = re.compile(rf"^{re.escape(API_PREFIX)}/work-orders/[^/]+/photos/?$")
SYNC_PATH = f"{API_PREFIX}/sync"
SYNC_TOO_LARGE = (422, "sync_batch_too_large")
"""An offline batch over the JSON limit breaks a rule of the sync (1 MiB), named as such."""
# The form around a photo (boundaries, part headers, caption, phase) is allowed this much on
# top of ``max_upload_bytes``, so that a photo the photos service accepts is never refused here.
FORM_ENVELOPE_BYTES = 64 * 1024


# These subclass Starlette's HTTPException because they are raised from ``receive`` while
# FastAPI reads the body, and FastAPI turns any other exception there into a 400.
class BodyTooLargeError(HTTPException):
    """The request body is larger than the route's limit (413, or what the route says)."""

    def __init__(self, limit: int, answer: tuple[int, str] = (413, "too_large")) -> None:
        super().__init__(answer[0], f"the request body is larger than {limit} bytes")
        self.code = answer[1]


class BodyTimeoutError(HTTPException):
    """The client did not send the whole body in time (408)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s")


@dataclass(frozen=True)
class BodyLimits:
    """Size (bytes) and read deadline (seconds) of one kind of request body."""

    max_bytes: int
    timeout: float
    too_large: tuple[int, str] = (413, "too_large")


@dataclass(frozen=True)
class BodyPolicy:
    """Which limits apply to a request: uploads' or JSON's."""

    json: BodyLimits
    upload: BodyLimits

    def for_request(self, method: str, path: str) -> BodyLimits:
        if method == "POST" and UPLOAD_PATH.match(path):
            return self.upload
        if method == "POST" and path.rstrip("/") == SYNC_PATH:
            return replace(self.json, too_large=SYNC_TOO_LARGE)
        return self.json


class RequestBodyGuard:
    """ASGI middleware enforcing ``BodyPolicy`` on every HTTP request."""

    def __init__(self, app: ASGIApp, policy: BodyPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.policy.for_request(scope["method"], scope["path"])
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            too_large = BodyTooLargeError(limits.max_bytes, limits.too_large)
            await body_error_response(too_large)(scope, receive, send)
            return
        expects_body = "transfer-encoding" in headers or declared not in ("", "0")
        reader = _BodyReader(receive, limits, expects_body)
        await self.app(scope, reader.receive, send)


class _BodyReader:
    """Wraps ``receive``: counts the bytes and enforces the deadline."""

    def __init__(self, receive: Receive, limits: BodyLimits, expects_body: bool) -> None:
        self._receive = receive
        self._limits = limits
        self._deadline = asyncio.get_running_loop().time() + limits.timeout
        self._received = 0
        self.done = not expects_body

    async def receive(self) -> Message:
        if self.done:
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError as exc:
            raise BodyTimeoutError(self._limits.timeout) from exc
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limits.max_bytes:
                raise BodyTooLargeError(self._limits.max_bytes, self._limits.too_large)
            self.done = not message.get("more_body", False)
        return message


def body_error_response(exc: BodyTooLargeError | BodyTimeoutError) -> JSONResponse:
    """The JSON error answer to a body that is too large (413) or too slow (408; the
    connection is closed, since the rest of the body would be as slow)."""
    if isinstance(exc, BodyTooLargeError):
        return JSONResponse(error_body(exc.code, str(exc.detail)), exc.status_code)
    body = error_body("request_timeout", str(exc.detail))
    return JSONResponse(body, exc.status_code, headers={"Connection": "close"})


def install_body_errors(app: FastAPI) -> None:
    """Answer ``BodyTooLargeError`` and ``BodyTimeoutError`` in the JSON error shape."""

    async def handler(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyTooLargeError | BodyTimeoutError)
        return body_error_response(exc)

    app.add_exception_handler(BodyTooLargeError, handler)
    app.add_exception_handler(BodyTimeoutError, handler)
