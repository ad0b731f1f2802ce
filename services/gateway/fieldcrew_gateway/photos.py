"""The public photo routes (``/api/v1/work-orders/{id}/photos``): uploads streamed to the
photos service, and the photos' metadata with short-lived URLs."""

from __future__ import annotations

from fastapi import Request, Response
from fieldcrew_shared.api_models import PHOTO_UPLOAD_FORM, PhotoOut

from fieldcrew_gateway import openapi
from fieldcrew_gateway.deps import COMMAND, PhotoId, WorkOrderId, work_order_router
from fieldcrew_gateway.proxy import forward, upload_body
from fieldcrew_gateway.upstreams import Upstream

router = work_order_router()


@router.post(
    "/work-orders/{work_order_id}/photos",
    status_code=201,
    response_model=PhotoOut,
    dependencies=COMMAND,
    responses=openapi.UPLOAD,
    openapi_extra=PHOTO_UPLOAD_FORM,
)
async def upload_photo(request: Request, work_order_id: WorkOrderId) -> Response:
    """Upload one of the caller's own photos (any crew member), streamed to the photos
    service; 201 with its id, sha256 and whether it was a duplicate."""
    content = upload_body(request)
    return await forward(
        request, Upstream.photos, f"/work-orders/{work_order_id}/photos", content=content
    )


@router.get(
    "/work-orders/{work_order_id}/photos", response_model=list[PhotoOut], responses=openapi.VIEW
)
async def list_photos(request: Request, work_order_id: WorkOrderId) -> Response:
    """Photo metadata with short-lived URLs."""
    return await forward(request, Upstream.photos, f"/work-orders/{work_order_id}/photos")


@router.get(
    "/work-orders/{work_order_id}/photos/{photo_id}",
    response_model=PhotoOut,
    responses=openapi.VIEW,
)
async def get_photo(request: Request, work_order_id: WorkOrderId, photo_id: PhotoId) -> Response:
    """One photo's metadata, with a short-lived URL."""
    path = f"/work-orders/{work_order_id}/photos/{photo_id}"
    return await forward(request, Upstream.photos, path)
