"""FastAPI plumbing every service uses: JSON errors, bearer auth, request metadata.

Errors always look like ``{"error": {"code": "...", "message": "..."}}``; a 503 (a backing
server is down) also carries ``Retry-After``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fieldcrew_shared.auth import Principal, TokenVerifier
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import AuthenticationError, FieldcrewError, InvalidCommandError

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="JWT from `fieldcrew token`")
_datetime = TypeAdapter(datetime)
RETRY_AFTER_SECONDS = 1  # what a client told 503 waits before it tries again


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def install_error_handlers(app: FastAPI) -> None:
    """Map fieldcrew errors, validation errors and HTTP errors to the JSON error shape."""

    @app.exception_handler(FieldcrewError)
    async def _fieldcrew(_: Request, exc: FieldcrewError) -> JSONResponse:
        if exc.status >= 500:
            cause = exc.__cause__  # what the backend said: the operator's lead, never the client's
            why = {"code": exc.code, "reason": exc.message, "cause": repr(cause) if cause else None}
            log.warning("request failed", extra=why)
        headers = None
        if exc.status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        elif exc.status == 503:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()[:20]
        ]
        return JSONResponse(
            error_body("invalid_request", "the request is not valid", details=details), 422
        )

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the exception with its traceback after this answer is sent
        return JSONResponse(error_body("internal_error", "an unexpected error occurred"), 500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <JWT>``; 401 when absent or invalid.

    Verified on the event loop when the key is at hand (always with configured keys; with a
    JWKS while its cache is fresh), else in a worker thread, as fetching keys blocks. (A sync
    dependency would take the thread hop on every request: it cost the gateway more CPU
    than the signature check, bench/README.md.)"""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("missing bearer token")
    verifier = verifier_of(request)
    principal = verifier.verify_at_hand(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(verifier.verify, credentials.credentials)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def request_metadata(request: Request, principal: CurrentPrincipal) -> Metadata:
    """Envelope metadata for events caused by this request."""
    occurred_raw = request.headers.get("x-occurred-at")
    try:
        occurred = _datetime.validate_python(occurred_raw) if occurred_raw else None
    except ValidationError as exc:
        raise InvalidCommandError("X-Occurred-At must be an ISO 8601 date-time") from exc
    return Metadata(
        actor=principal.sub,
        actorrole=principal.role.value,
        correlationid=request.headers.get("x-correlation-id") or str(uuid4()),
        causationid=request.headers.get("idempotency-key"),
        occurred_at=occurred,
    )


RequestMetadata = Annotated[Metadata, Depends(request_metadata)]
