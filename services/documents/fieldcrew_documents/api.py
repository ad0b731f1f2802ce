"""Documents' HTTP API: the customer PDF of a server report, and share links to it.

``/work-orders/...`` take a bearer token like every service; ``/share/{token}`` needs none:
the token in the path is the credential, so those answers are never cached, never indexed and
never leak it in a ``Referer``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from fieldcrew_shared.api_models import (
    MAX_QUERY_INT,
    CreateShareLinkRequest,
    ShareLinkOut,
    ShareLinkState,
    ShareLinkSummary,
)
from fieldcrew_shared.errors import GoneError, NotFoundError
from fieldcrew_shared.events import SharedView
from fieldcrew_shared.fingerprint import fingerprint
from fieldcrew_shared.service import store_of
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata
from jinja2 import Environment, PackageLoader, select_autoescape

from fieldcrew_documents import handlers, wording
from fieldcrew_documents.config import Settings
from fieldcrew_documents.domain import ShareLink
from fieldcrew_documents.storage import PhotoCopies

router = APIRouter(prefix="/work-orders/{work_order_id}", tags=["documents"])
share_router = APIRouter(prefix="/share/{token}", tags=["shared reports"])

PDF = "application/pdf"
SHARED_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
PAGE_POLICY = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
Token = Annotated[str, Path(max_length=200, description="The share link's token")]
Revision = Annotated[int | None, Query(ge=1, le=MAX_QUERY_INT, description="Default: the newest")]

_pages = Environment(
    loader=PackageLoader("fieldcrew_documents", "templates"),
    autoescape=select_autoescape(["html"]),
)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def copies_of(request: Request) -> PhotoCopies:
    copies: PhotoCopies = request.app.state.copies
    return copies


def pdf_response(data: bytes, name: str, **headers: str) -> Response:
    disposition = f'attachment; filename="{name}"'
    return Response(data, media_type=PDF, headers={"Content-Disposition": disposition, **headers})


@router.get("/server-report.pdf", response_class=Response)
async def server_report_pdf(
    work_order_id: UUID, request: Request, principal: CurrentPrincipal, revision: Revision = None
) -> Response:
    """The customer PDF of a revision of the server report (default: the newest)."""
    store = store_of(request)
    report = await handlers.report_for(store, work_order_id, revision, principal)
    settings = settings_of(request)
    data = await handlers.render_pdf(copies_of(request), report, settings.pdf_image_side)
    name = f"work-order-{work_order_id}-r{report['revision']}.pdf"
    return pdf_response(data, name, **{"Cache-Control": "private, no-store"})


@router.post("/share-links", status_code=201, response_model=ShareLinkOut)
async def create_share_link(
    work_order_id: UUID,
    body: CreateShareLinkRequest,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
) -> ShareLinkOut:
    """A read-only link to a revision of the server report, for someone without an account."""
    store = store_of(request)
    made = await handlers.create_link(
        store, work_order_id, body.expires_in_hours, body.revision, principal, meta
    )
    url = f"{settings_of(request).public_url.rstrip('/')}/share/{made.token}"
    response.headers["Location"] = (
        f"/api/v1/work-orders/{work_order_id}/share-links/{made.link.link_id}"
    )
    response.headers["Cache-Control"] = "no-store"
    return ShareLinkOut(
        id=made.link.link_id, url=url, expires_at=made.link.expires_at, revision=made.link.revision
    )


@router.get("/share-links", response_model=list[ShareLinkSummary])
async def list_share_links(
    work_order_id: UUID, request: Request, principal: CurrentPrincipal
) -> list[ShareLinkSummary]:
    """The work order's share links (never their secrets), newest first."""
    links = await handlers.list_links(store_of(request), work_order_id, principal)
    now = datetime.now(UTC)
    ordered = sorted(links.values(), key=lambda link: link.created_at, reverse=True)
    return [summary(link, now) for link in ordered]


def summary(link: ShareLink, now: datetime) -> ShareLinkSummary:
    state = ShareLinkState.active
    if link.revoked_at is not None:
        state = ShareLinkState.revoked
    elif now >= link.expires_at:
        state = ShareLinkState.expired
    return ShareLinkSummary(
        id=link.link_id,
        revision=link.revision,
        state=state,
        created_by=link.created_by,
        created_at=link.created_at,
        expires_at=link.expires_at,
        revoked_by=link.revoked_by,
        revoked_at=link.revoked_at,
        views=link.views,
    )


@router.delete("/share-links/{link_id}", status_code=204, response_class=Response)
async def revoke_share_link(
    work_order_id: UUID,
    link_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
) -> Response:
    """Revoke a link: from now on it opens nothing (410)."""
    await handlers.revoke_link(store_of(request), work_order_id, link_id, principal, meta)
    return Response(status_code=204)


@share_router.get("", response_class=HTMLResponse)
async def shared_page(token: Token, request: Request) -> HTMLResponse:
    """The read-only page of the shared report, with its photos and its PDF."""
    try:
        opened = await handlers.open_link(store_of(request), token, SharedView.page)
    except (NotFoundError, GoneError) as exc:
        page = _pages.get_template("unavailable.html").render(message=exc.message, code=exc.code)
        return HTMLResponse(page, exc.status, headers=_page_headers())
    report = opened.report
    page = _pages.get_template("share.html").render(
        token=token,
        report=report,
        wo=report["work_order"],
        lr=report.get("leader_report"),
        fingerprint=fingerprint(report),
        expires_at=opened.link.expires_at.isoformat(),
        words=wording,
    )
    return HTMLResponse(page, headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {**SHARED_HEADERS, "Content-Security-Policy": PAGE_POLICY}


@share_router.get("/report.pdf", response_class=Response)
async def shared_pdf(token: Token, request: Request) -> Response:
    """The shared report's PDF."""
    opened = await handlers.open_link(store_of(request), token, SharedView.pdf)
    side = settings_of(request).pdf_image_side
    data = await handlers.render_pdf(copies_of(request), opened.report, side)
    name = f"repair-report-r{opened.report['revision']}.pdf"
    return pdf_response(data, name, **SHARED_HEADERS)


@share_router.get("/photos/{photo_id}", response_class=Response)
async def shared_photo(token: Token, photo_id: UUID, request: Request) -> Response:
    """A photo of the shared report (its served copy: re-encoded, no metadata)."""
    opened = await handlers.open_link(store_of(request), token, view=None)
    photo = next((p for p in opened.report["photos"] if p["photo_id"] == str(photo_id)), None)
    if photo is None:
        raise NotFoundError("no such photo in this report")
    copies = copies_of(request)
    data = await copies.thumbnail(photo["sha256"]) or await copies.served(photo["sha256"])
    if data is None:
        raise NotFoundError("this photo is still being prepared", code="not_ready")
    return Response(data, media_type="image/jpeg", headers=SHARED_HEADERS)
