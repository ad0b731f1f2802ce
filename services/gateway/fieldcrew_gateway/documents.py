"""The documents routes: the customer PDF, share links (for the office) and the shared pages
(for anyone holding a link: no bearer token, the token in the path is the credential)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse
from fieldcrew_shared.api_models import (
    CreateShareLinkRequest,
    ShareLinkOut,
    ShareLinkSummary,
)
from fieldcrew_shared.web import current_principal

from fieldcrew_gateway import openapi
from fieldcrew_gateway.deps import Newest, WorkOrderId, correlation_header
from fieldcrew_gateway.proxy import API_PREFIX, forward
from fieldcrew_gateway.upstreams import Upstream

router = APIRouter(
    prefix=API_PREFIX,
    tags=["documents"],
    dependencies=[Depends(current_principal), Depends(correlation_header)],
    responses=openapi.EVERY_ROUTE,
)
share_router = APIRouter(
    prefix="/share",
    tags=["shared reports"],
    dependencies=[Depends(correlation_header)],
    responses=openapi.PUBLIC_ROUTE,
)
LinkId = Annotated[UUID, Path(description="The share link's id")]
ShareToken = Annotated[str, Path(max_length=200, description="The share link's token (its secret)")]
PDF_BODY: dict[str, Any] = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
JPEG_BODY: dict[str, Any] = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
HTML_BODY: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}


@router.get(
    "/work-orders/{work_order_id}/server-report.pdf",
    response_class=Response,
    responses={
        200: {"description": "The PDF (a download)", "content": PDF_BODY},
        403: openapi.error("Not the dispatcher, an admin or on this work order's crew"),
        404: openapi.error("No such work order or revision, or the report is not compiled yet"),
    },
)
async def get_server_report_pdf(
    request: Request,
    work_order_id: WorkOrderId,
    revision: Newest = None,
) -> Response:
    """The customer PDF of the server report: work order, the leader's report, parts, every
    photo with its provenance, the crew, the revision and its fingerprint."""
    path = f"/work-orders/{work_order_id}/server-report.pdf"
    return await forward(request, Upstream.documents, path)


@router.post(
    "/work-orders/{work_order_id}/share-links",
    status_code=201,
    response_model=ShareLinkOut,
    responses={
        **openapi.WITH_BODY,
        201: {"headers": openapi.LOCATION},
        403: openapi.error("Not a dispatcher or an admin"),
        404: openapi.error("No such work order or revision"),
        409: openapi.error("The server report is not compiled yet"),
    },
)
async def create_share_link(
    request: Request, work_order_id: WorkOrderId, body: CreateShareLinkRequest
) -> Response:
    """A read-only link to a revision of the server report for someone without an account
    (dispatcher, admin). The ``url`` holds the link's secret and is shown this once."""
    return await forward(request, Upstream.documents, f"/work-orders/{work_order_id}/share-links")


@router.get(
    "/work-orders/{work_order_id}/share-links",
    response_model=list[ShareLinkSummary],
    responses={
        403: openapi.error("Not a dispatcher or an admin"),
        404: openapi.error("No such work order"),
    },
)
async def list_share_links(request: Request, work_order_id: WorkOrderId) -> Response:
    """The work order's share links, without their secrets (dispatcher, admin)."""
    return await forward(request, Upstream.documents, f"/work-orders/{work_order_id}/share-links")


@router.delete(
    "/work-orders/{work_order_id}/share-links/{link_id}",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Revoked (also when it was already)"},
        403: openapi.error("Not a dispatcher or an admin"),
        404: openapi.error("No such work order or share link"),
    },
)
async def revoke_share_link(
    request: Request, work_order_id: WorkOrderId, link_id: LinkId
) -> Response:
    """Revoke a share link: from then on it opens nothing (410)."""
    path = f"/work-orders/{work_order_id}/share-links/{link_id}"
    return await forward(request, Upstream.documents, path)


ERROR_BODY: dict[str, Any] = {
    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
}
SHARED_ERRORS: openapi.Responses = {
    404: {
        "description": "No such link (or a tampered token): a page for people; JSON when the "
        "path itself cannot be a link",
        "content": {**HTML_BODY, **ERROR_BODY},
    },
    410: {"description": "The link was revoked or has expired", "content": HTML_BODY},
}
SHARED_FILE_ERRORS: openapi.Responses = {
    404: openapi.error("No such link (or a tampered token), or no such photo in the report"),
    410: openapi.error("The link was revoked or has expired"),
}


# An HTML route documents its responses as HTML unless told: its JSON errors say so.
PAGE_JSON_ERRORS: openapi.Responses = {
    status: {**answer, "content": ERROR_BODY} for status, answer in openapi.PUBLIC_ROUTE.items()
}


@share_router.get(
    "/{token}",
    response_class=HTMLResponse,
    responses={
        **PAGE_JSON_ERRORS,
        200: {"description": "The shared report", "content": HTML_BODY},
        **SHARED_ERRORS,
    },
)
async def shared_page(request: Request, token: ShareToken) -> Response:
    """The read-only page of a shared report with its photos and PDF; needs no login."""
    return await forward(request, Upstream.documents, f"/share/{quote(token, safe='')}")


@share_router.get(
    "/{token}/report.pdf",
    response_class=Response,
    responses={200: {"description": "The PDF", "content": PDF_BODY}, **SHARED_FILE_ERRORS},
)
async def shared_pdf(request: Request, token: ShareToken) -> Response:
    """The shared report's PDF; needs no login."""
    path = f"/share/{quote(token, safe='')}/report.pdf"
    return await forward(request, Upstream.documents, path)


@share_router.get(
    "/{token}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"description": "The photo", "content": JPEG_BODY}, **SHARED_FILE_ERRORS},
)
async def shared_photo(
    request: Request, token: ShareToken, photo_id: Annotated[UUID, Path()]
) -> Response:
    """A photo of the shared report; needs no login."""
    path = f"/share/{quote(token, safe='')}/photos/{photo_id}"
    return await forward(request, Upstream.documents, path)
