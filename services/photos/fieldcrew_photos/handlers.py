"""Photos' command and query handlers: check the bytes, store them, then record the upload.

The order is the guarantee of docs/design.md §6: ``PhotoUploaded`` is appended only after the
original is durably stored, so every event names bytes that exist. A crash in between leaves
at worst an unreferenced object, which the next upload of the same bytes reuses. Refused bytes
store nothing and write nothing. The copies clients see are made after the answer, by the
rendition worker (:mod:`fieldcrew_photos.consumer`, docs/adr/0050).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fieldcrew_shared.commands import CommandPipeline, EventLog, command_id
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import Crew, Phase, PhotoUploaded
from fieldcrew_shared.records import Recorded

from fieldcrew_photos import imaging
from fieldcrew_photos.config import Settings
from fieldcrew_photos.domain import (
    Outcome,
    UploadPhoto,
    decide_upload,
    fold,
    photo_id_for,
    uploader_role,
)
from fieldcrew_photos.storage import PhotoStorage, object_key

PIPELINE = CommandPipeline(fold)


@dataclass(frozen=True)
class Limits:
    """What an accepted image may be: its pixels, and its metadata in bytes."""

    max_pixels: int
    max_metadata_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_pixels, settings.max_metadata_bytes)


@dataclass(frozen=True)
class NewPhoto:
    """Bytes a crew member sent for a work order, not yet checked."""

    work_order_id: uuid.UUID
    uploader: str
    data: bytes
    caption: str = ""
    phase: Phase | None = None
    key: str | None = None  # the client's Idempotency-Key


@dataclass(frozen=True)
class Photo:
    """One distinct image of a work order, every upload of it in order, and what became of
    its copies (None while they are being made)."""

    records: tuple[Recorded, ...]
    rendition: Outcome | None = None

    @property
    def first(self) -> PhotoUploaded:
        """The first upload: it describes the photo (caption, phase, ...)."""
        return as_uploaded(self.records[0])

    @property
    def uploaders(self) -> list[str]:
        return list(dict.fromkeys(as_uploaded(r).uploader for r in self.records))

    @property
    def uploaded_at(self) -> datetime:
        return self.records[0].envelope.recorded_at


@dataclass(frozen=True)
class Examined:
    """Accepted bytes: what they are and their digest."""

    info: imaging.ImageInfo
    sha256: str


@dataclass(frozen=True)
class Uploaded:
    photo: Photo
    recorded: bool  # False: this uploader had already sent these bytes, nothing was written
    duplicate: bool  # the work order already had these bytes


async def authorize_upload(log: EventLog, work_order_id: uuid.UUID, uploader: str) -> None:
    """Refuse an unknown work order or a stranger before their bytes are even read (the
    command is decided again once they are stored)."""
    state, _ = await PIPELINE.view(log, work_order_id)
    uploader_role(state.lifecycle, uploader)


async def upload_photo(
    log: EventLog,
    storage: PhotoStorage,
    upload: NewPhoto,
    meta: Metadata,
    limits: Limits,
) -> Uploaded:
    """Check the bytes, store them once, then record who uploaded them."""
    examined = await asyncio.to_thread(examine, upload.data, limits)
    info, sha256 = examined.info, examined.sha256
    key = object_key(sha256)
    await storage.put(key, upload.data, info.content_type)
    cmd = UploadPhoto(
        work_order_id=upload.work_order_id,
        uploader=upload.uploader,
        sha256=sha256,
        object_key=key,
        content_type=info.content_type,
        size=len(upload.data),
        width=info.width,
        height=info.height,
        caption=upload.caption,
        phase=upload.phase,
        captured_at=info.captured_at,
        location=info.location,
    )
    return await record_upload(log, cmd, meta, upload.key)


def examine(data: bytes, limits: Limits) -> Examined:
    """CPU work, run off the event loop: check and decode the image and hash its bytes.
    UploadRejectedError when the bytes are refused."""
    info = imaging.inspect(
        data, max_pixels=limits.max_pixels, max_metadata_bytes=limits.max_metadata_bytes
    )
    return Examined(info, hashlib.sha256(data).hexdigest())


async def record_upload(
    log: EventLog, cmd: UploadPhoto, meta: Metadata, key: str | None
) -> Uploaded:
    """Record the upload through the pipeline; with nothing new to record (this uploader had
    sent these bytes, or this is a retry with the same key) the photo as it is."""
    command = command_id(cmd.work_order_id, cmd.uploader, "photo", key)
    executed = await PIPELINE.run(
        log, cmd.work_order_id, command, lambda s: decide_upload(s, cmd), meta
    )
    photo = photos_of(executed.history)[photo_id_for(cmd.work_order_id, cmd.sha256)]
    if executed.replayed or not executed.recorded:
        return Uploaded(photo, recorded=False, duplicate=True)
    return Uploaded(photo, recorded=True, duplicate=as_uploaded(executed.recorded[0]).duplicate)


async def photos(log: EventLog, work_order_id: uuid.UUID) -> tuple[Crew, list[Photo]]:
    """The work order's current crew and its photos, one per distinct image, in order of
    first upload; NotFoundError when it was never issued."""
    state, loaded = await PIPELINE.view(log, work_order_id)
    if state.lifecycle is None:
        raise NotFoundError("no such work order")
    return state.lifecycle.crew, list(photos_of(loaded.records).values())


def one_photo(photos: list[Photo], photo_id: uuid.UUID) -> Photo:
    """One photo of the work order; NotFoundError when it has no such photo."""
    photo = next((p for p in photos if p.first.photo_id == photo_id), None)
    if photo is None:
        raise NotFoundError("no such photo on this work order")
    return photo


def photos_of(records: Sequence[Recorded]) -> dict[uuid.UUID, Photo]:
    """Group upload records by photo, keeping the order of first upload, each with what
    became of its copies."""
    grouped: dict[uuid.UUID, list[Recorded]] = {}
    for record in records:
        if isinstance(record.event, PhotoUploaded):
            grouped.setdefault(record.event.photo_id, []).append(record)
    made = fold(records).renditions
    return {pid: Photo(tuple(group), made.get(pid)) for pid, group in grouped.items()}


def as_uploaded(record: Recorded) -> PhotoUploaded:
    assert isinstance(record.event, PhotoUploaded)
    return record.event
