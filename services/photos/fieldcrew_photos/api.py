"""Photos' HTTP API: crew members upload photos of a work order; its viewers list them."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from fieldcrew_shared.access import DISPATCH_ROLES, require_view
from fieldcrew_shared.api_models import PHOTO_UPLOAD_FORM, PhotoOut, RenditionState
from fieldcrew_shared.auth import Role
from fieldcrew_shared.errors import CommandRejectedError, InvalidCommandError, UploadRejectedError
from fieldcrew_shared.events import PhotoRenditionsMade
from fieldcrew_shared.service import Log
from fieldcrew_shared.web import CurrentPrincipal, RequestMetadata, error_body
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcrew_photos import handlers
from fieldcrew_photos.config import Settings
from fieldcrew_photos.form import discard, read_photo_form
from fieldcrew_photos.metrics import REJECTED
from fieldcrew_photos.storage import PhotoStorage

router = APIRouter(prefix="/work-orders", tags=["photos"])

FORM_OVERHEAD = 64 * 1024
"""Room for the caption, phase, part headers and boundaries around the file in a request."""

_ERROR = {"description": "`{error: {code, message}}`"}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": PhotoOut,
        "description": "You had already uploaded these bytes, or this retries an upload with"
        " the same Idempotency-Key: no change",
    },
    403: _ERROR,
    404: _ERROR,
    413: {"description": "Larger than the upload limit (`too_large`)"},
    415: {"description": "Not a JPEG, PNG, WebP or HEIC image (`unsupported_media_type`)"},
    422: {
        "description": "Truncated or corrupt image (`corrupt_image`), too many pixels "
        "(`too_many_pixels`), too much metadata (`too_much_metadata`), script, markup or an "
        "archive hidden in it (`embedded_content`), bad form fields (`invalid_request`), or "
        "other bytes under an Idempotency-Key already used (`idempotency_key_reused`)"
    },
}


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def storage_of(request: Request) -> PhotoStorage:
    storage: PhotoStorage = request.app.state.storage
    return storage


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def photo_out(photo: handlers.Photo, storage: PhotoStorage, *, duplicate: bool = False) -> PhotoOut:
    first, copies = photo.first, photo.rendition
    state = RenditionState.pending if copies is None else RenditionState.failed
    url = thumbnail_url = None
    if isinstance(copies, PhotoRenditionsMade):  # the re-encoded copies, never the original
        state = RenditionState.ready
        url, thumbnail_url = storage.url(copies.served_key), storage.url(copies.thumbnail_key)
    return PhotoOut(
        id=first.photo_id,
        work_order_id=first.work_order_id,
        sha256=first.sha256,
        content_type=first.content_type,
        size=first.size,
        width=first.width,
        height=first.height,
        uploaders=photo.uploaders,
        caption=first.caption,
        phase=first.phase,
        captured_at=first.captured_at,
        location=first.location.model_dump() if first.location else None,
        uploaded_at=photo.uploaded_at,
        duplicate=duplicate,
        rendition=state,
        url=url,
        thumbnail_url=thumbnail_url,
    )


class DeclaredSizeLimit:
    """ASGI middleware: refuse a request whose ``Content-Length`` is over ``limit`` before
    reading any of it, in fieldcrew's JSON error shape. (The route's own ``max_body_size``
    still bounds bodies sent without a length, but answers declared ones in plain text.)"""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.limit:
                REJECTED.labels("too_large").inc()
                message = f"the request is larger than {self.limit} bytes"
                response = JSONResponse(error_body("too_large", message), 413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@router.post(
    "/{work_order_id}/photos",
    status_code=201,
    response_model=PhotoOut,
    responses=UPLOAD_RESPONSES,
    openapi_extra=PHOTO_UPLOAD_FORM,
)
async def upload_photo(
    work_order_id: UUID,
    request: Request,
    response: Response,
    log: Log,
    principal: CurrentPrincipal,
    meta: RequestMetadata,
    idempotency_key: IdempotencyKey = None,
) -> PhotoOut:
    """Upload one of your own photos of a work order you are on (multipart ``file``, optional
    ``caption`` and ``phase``). The bytes are checked, not the filename or declared type; the
    same bytes are stored once and appear once, crediting every uploader. A retry with the
    same ``Idempotency-Key`` answers 200 with the photo; other bytes under that key are 422
    ``idempotency_key_reused``."""
    storage, settings = storage_of(request), settings_of(request)
    try:
        await handlers.authorize_upload(log, work_order_id, principal.sub)
        principal.require(Role.technician)  # the crew uploads with a technician's token
    except CommandRejectedError:
        await discard(request)
        raise
    try:
        form = await read_photo_form(request, settings.max_upload_bytes)
        upload = handlers.NewPhoto(
            work_order_id,
            principal.sub,
            form.data,
            form.fields.caption,
            form.fields.phase,
            key=idempotency_key,
        )
        limits = handlers.Limits.of(settings)
        uploaded = await handlers.upload_photo(log, storage, upload, meta, limits)
    except (UploadRejectedError, InvalidCommandError) as exc:
        REJECTED.labels(exc.code).inc()
        raise
    if not uploaded.recorded:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    photo = photo_out(uploaded.photo, storage, duplicate=uploaded.duplicate)
    response.headers["Location"] = f"/api/v1/work-orders/{work_order_id}/photos/{photo.id}"
    return photo


@router.get("/{work_order_id}/photos", response_model=list[PhotoOut])
async def list_photos(
    work_order_id: UUID, request: Request, log: Log, principal: CurrentPrincipal
) -> list[PhotoOut]:
    """The work order's photos, one per distinct image, each with short-lived URLs of its
    served copy and thumbnail once they are made (``rendition``: pending, ready, failed)."""
    crew, photos = await handlers.photos(log, work_order_id)
    require_view(crew, principal, DISPATCH_ROLES)  # not analysts: a url hands out the bytes
    return [photo_out(photo, storage_of(request)) for photo in photos]


@router.get("/{work_order_id}/photos/{photo_id}", response_model=PhotoOut)
async def get_photo(
    work_order_id: UUID, photo_id: UUID, request: Request, log: Log, principal: CurrentPrincipal
) -> PhotoOut:
    """One photo of the work order, with short-lived URLs of its copies once they are made."""
    crew, photos = await handlers.photos(log, work_order_id)
    require_view(crew, principal, DISPATCH_ROLES)  # not analysts: a url hands out the bytes
    return photo_out(handlers.one_photo(photos, photo_id), storage_of(request))
