"""Photos' rules: who may add photos to a work order, and when the same bytes are news.

Pure: ``fold(history) -> PhotosState`` and ``decide_upload(state, command) -> events``, run by
the command pipeline (``fieldcrew_shared.commands``); no I/O. The bytes were already checked
and stored by the time a command is decided; the command carries what they are.

- Only the work order's current crew (leader or member, after any crew change) uploads, each
  as themselves, and nobody once the work order is cancelled.
- A photo is its bytes: the same bytes on the same work order are one photo (one ``photo_id``)
  however many times and by whomever they are sent.
- The same bytes again from the same uploader are a retry and change nothing; from another
  crew member they credit that member too (a ``duplicate`` upload).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from fieldcrew_shared.access import crew_role
from fieldcrew_shared.api_models import MAX_CAPTION
from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import Event, GeoPoint, Phase, PhotoUploaded
from fieldcrew_shared.lifecycle import Lifecycle, Status, fold_lifecycle
from fieldcrew_shared.records import Recorded

PHOTO_NAMESPACE = uuid.UUID("3d0f8e52-6a1b-4c7e-9f25-8b4e1c6a7d90")
"""Fixed forever: photo ids are derived from it."""


@dataclass(frozen=True)
class UploadPhoto:
    """Add checked, stored image bytes to a work order on behalf of ``uploader``."""

    work_order_id: uuid.UUID
    uploader: str
    sha256: str
    object_key: str
    content_type: str
    size: int
    width: int
    height: int
    caption: str = ""
    phase: Phase | None = None
    captured_at: datetime | None = None
    location: GeoPoint | None = None


@dataclass(frozen=True)
class PhotosState:
    """What the photo rules need of a work order: its lifecycle (None before it was issued)
    and its uploads."""

    lifecycle: Lifecycle | None = None
    uploads: list[PhotoUploaded] = field(default_factory=list)


def fold(history: Iterable[Recorded]) -> PhotosState:
    """The photos' view of a work order's history (any context's events, in log order)."""
    history = list(history)
    uploads = [r.event for r in history if isinstance(r.event, PhotoUploaded)]
    return PhotosState(fold_lifecycle(history), uploads)


def photo_id_for(work_order_id: uuid.UUID, sha256: str) -> uuid.UUID:
    """The same bytes on the same work order are always the same photo."""
    return uuid.uuid5(PHOTO_NAMESPACE, f"{work_order_id}:{sha256}")


def uploader_role(lc: Lifecycle | None, uploader: str) -> str:
    """``leader`` or ``member``; NotFoundError for an unknown work order, ForbiddenError for
    anyone not on its current crew, ConflictError once it is cancelled."""
    if lc is None:
        raise NotFoundError("no such work order")
    role = crew_role(lc.crew, uploader)
    if role is None:
        raise ForbiddenError("only the work order's crew may upload photos to it")
    if lc.status == Status.cancelled:
        raise ConflictError("the work order is cancelled", code="work_order_cancelled")
    return role


def decide_upload(state: PhotosState, cmd: UploadPhoto) -> list[Event]:
    """Record the upload, or nothing when this uploader already sent these bytes."""
    role = uploader_role(state.lifecycle, cmd.uploader)
    if len(cmd.caption) > MAX_CAPTION:
        raise InvalidCommandError(f"the caption is longer than {MAX_CAPTION} characters")
    same_bytes = [e for e in state.uploads if e.sha256 == cmd.sha256]
    if any(e.uploader == cmd.uploader for e in same_bytes):
        return []
    return [
        PhotoUploaded(
            work_order_id=cmd.work_order_id,
            photo_id=photo_id_for(cmd.work_order_id, cmd.sha256),
            sha256=cmd.sha256,
            object_key=cmd.object_key,
            content_type=cmd.content_type,
            size=cmd.size,
            width=cmd.width,
            height=cmd.height,
            uploader=cmd.uploader,
            uploader_role=role,
            caption=cmd.caption,
            phase=cmd.phase,
            captured_at=cmd.captured_at,
            location=cmd.location,
            duplicate=bool(same_bytes),
        )
    ]
