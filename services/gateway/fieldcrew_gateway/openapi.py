"""The parts of the OpenAPI document the route signatures cannot say by themselves.

What each route may answer: every status a client can meet, each error in fieldcrew's JSON
error shape (``ErrorOut``), with the headers that come with it. Schemathesis checks the running
system against the document (tests/e2e/test_fuzz_openapi.py), so a status or body a route
answers but does not declare here fails CI.
"""

from __future__ import annotations

from typing import Any

from fieldcrew_shared.api_models import ErrorOut, PhotoOut

Responses = dict[int | str, dict[str, Any]]


def not_null(schema: dict[str, Any]) -> None:
    """Document an optional header or query parameter as its type alone: it is left out
    when absent, never sent as ``null`` (for pydantic, ``X | None`` is ``anyOf [X, null]``)."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])


RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
LOCATION = {"Location": {"description": "Where the new resource is", "schema": {"type": "string"}}}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "`true` when this answers a retry with the same `Idempotency-Key`",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """One documented error response."""
    return {
        "model": ErrorOut,
        "description": description,
        **({"headers": headers} if headers else {}),
    }


EVERY_ROUTE: Responses = {
    401: error("No bearer token, or one that does not verify"),
    422: error("The request is not valid (`details` says what is wrong)"),
    429: error("Too many requests from this user (or address)", RETRY_AFTER),
    503: error("A backing service is down; retry after `Retry-After` seconds", RETRY_AFTER),
}
PUBLIC_ROUTE: Responses = {
    422: error("The request is not valid (`details` says what is wrong)"),
    429: error("Too many requests from this address", RETRY_AFTER),
    503: error("A backing service is down; retry after `Retry-After` seconds", RETRY_AFTER),
}
VIEW: Responses = {
    403: error("The caller is not on this work order's crew"),
    404: error("No such work order (or note, report, photo)"),
}
WITH_BODY: Responses = {
    400: error("The body cannot be read as the declared content type (e.g. not UTF-8)"),
    408: error("The request body did not arrive in time"),
    413: error("The request body is larger than the limit"),
}
COMMAND: Responses = {
    **WITH_BODY,
    403: error("The caller may not do this"),
    409: error("The work order's state forbids it, or a concurrent change won"),
}
ON_WORK_ORDER: Responses = {**COMMAND, 404: error("No such work order")}
LIFECYCLE: Responses = {
    **ON_WORK_ORDER,
    409: error(
        "The work order's state forbids it; the code names the rule (`work_order_cancelled`,"
        " `work_order_completed`, `already_started`, `crew_change_not_allowed`,"
        " `report_not_submitted`), or a concurrent change won"
    ),
}
UPLOAD: Responses = {
    **ON_WORK_ORDER,
    200: {
        "model": PhotoOut,
        "description": "The caller had already uploaded these bytes (or this is a retry with the"
        " same `Idempotency-Key`): nothing changed",
        "headers": REPLAYED,
    },
    415: error("Not a JPEG, PNG, WebP or HEIC image, or not a multipart/form-data upload"),
}
