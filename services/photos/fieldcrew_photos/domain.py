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
- A photo's copies (served copy and thumbnail) are made once, after its first upload, and
  their outcome is recorded once: made, or failed after the worker's last try.
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
from fieldcrew_shared.events import (
    Event,
    GeoPoint,
    Phase,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
)
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


Outcome = PhotoRenditionsMade | PhotoRenditionFailed


@dataclass(frozen=True)
class PhotosState:
    """What the photo rules need of a work order: its lifecycle (None before it was issued),
    its uploads, and what became of each photo's copies (by photo id; none while pending)."""

    lifecycle: Lifecycle | None = None
    uploads: list[PhotoUploaded] = field(default_factory=list)
    renditions: dict[uuid.UUID, Outcome] = field(default_factory=dict)


def fold(history: Iterable[Recorded]) -> PhotosState:
    """The photos' view of a work order's history (any context's events, in log order)."""
    history = list(history)
    uploads = [r.event for r in history if isinstance(r.event, PhotoUploaded)]
    renditions: dict[uuid.UUID, Outcome] = {}
    for record in history:
        event = record.event
        if isinstance(event, Outcome):
            known = renditions.get(event.photo_id)
            if known is None or isinstance(known, PhotoRenditionFailed):
                renditions[event.photo_id] = event  # the first; made wins over failed
    return PhotosState(fold_lifecycle(history), uploads, renditions)


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


# Renditions: the copies clients see, made after the upload by the rendition worker.


@dataclass(frozen=True)
class RecordRenditions:
    """The served copy and thumbnail of ``upload``'s photo are stored: record them."""

    upload: PhotoUploaded
    served_key: str
    served_width: int
    served_height: int
    thumbnail_key: str
    thumbnail_width: int
    thumbnail_height: int


@dataclass(frozen=True)
class RecordRenditionFailure:
    """The copies of ``upload``'s photo could not be made after ``attempts`` tries."""

    upload: PhotoUploaded
    reason: str
    attempts: int


def rendition_command_id(upload_event_id: str, outcome: str) -> uuid.UUID:
    """The worker's command for one upload and outcome: its event's id derives from it, so
    a retried append is dropped by the log and a retried command finds its event."""
    return uuid.uuid5(PHOTO_NAMESPACE, f"{upload_event_id}:{outcome}")


def needs_renditions(state: PhotosState, upload: PhotoUploaded) -> bool:
    """Copies are made once per photo, for its first upload: a duplicate upload's photo has
    them already, or gets them from its first upload."""
    return not upload.duplicate and upload.photo_id not in state.renditions


def decide_renditions(state: PhotosState, cmd: RecordRenditions) -> list[Event]:
    """Record the copies, or nothing when the photo's outcome is recorded already."""
    upload = cmd.upload
    if upload.photo_id in state.renditions:
        return []
    return [
        PhotoRenditionsMade(
            work_order_id=upload.work_order_id,
            photo_id=upload.photo_id,
            sha256=upload.sha256,
            served_key=cmd.served_key,
            served_width=cmd.served_width,
            served_height=cmd.served_height,
            thumbnail_key=cmd.thumbnail_key,
            thumbnail_width=cmd.thumbnail_width,
            thumbnail_height=cmd.thumbnail_height,
        )
    ]


def decide_rendition_failed(state: PhotosState, cmd: RecordRenditionFailure) -> list[Event]:
    """Record that the copies could not be made, or nothing when an outcome is recorded."""
    upload = cmd.upload
    if upload.photo_id in state.renditions:
        return []
    return [
        PhotoRenditionFailed(
            work_order_id=upload.work_order_id,
            photo_id=upload.photo_id,
            sha256=upload.sha256,
            reason=cmd.reason,
            attempts=cmd.attempts,
        )
    ]
