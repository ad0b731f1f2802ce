"""Photos' command and query handlers: check the bytes, store them, then record the upload.

The order is the guarantee of DESIGN.md §6: ``PhotoUploaded`` is appended only after both
objects (the original as evidence, the re-encoded copy clients see) are durably stored, so
every event names bytes that exist. A crash in between leaves at worst unreferenced objects,
which the next upload of the same bytes reuses. Refused bytes store nothing and write nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import Phase, PhotoUploaded, WorkOrderIssued, subject_for
from fieldcrew_shared.eventstore import EventStore, Recorded, retry_on_conflict

from fieldcrew_photos import imaging, rendition
from fieldcrew_photos.config import Settings
from fieldcrew_photos.domain import (
    UploadPhoto,
    decide_upload,
    photo_id_for,
    upload_event_id,
    uploader_role,
)
from fieldcrew_photos.storage import PhotoStorage, object_key, served_key


@dataclass(frozen=True)
class Limits:
    """What an accepted image may be: pixels, metadata, and the served copy's longest side."""

    max_pixels: int
    max_metadata_bytes: int
    served_max_side: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_pixels, settings.max_metadata_bytes, settings.served_max_side)


@dataclass(frozen=True)
class NewPhoto:
    """Bytes a crew member sent for a work order, not yet checked."""

    work_order_id: uuid.UUID
    uploader: str
    data: bytes
    caption: str = ""
    phase: Phase | None = None


@dataclass(frozen=True)
class Photo:
    """One distinct image of a work order and every upload of it, in order."""

    records: tuple[Recorded, ...]

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


async def get_work_order(store: EventStore, work_order_id: uuid.UUID) -> WorkOrderIssued:
    """The work order as issued by dispatch; NotFoundError when it was never issued."""
    record = await store.last(subject_for("dispatch", work_order_id, "WorkOrderIssued"))
    if record is None or not isinstance(record.event, WorkOrderIssued):
        raise NotFoundError("no such work order")
    return record.event


async def authorize_upload(
    store: EventStore, work_order_id: uuid.UUID, uploader: str
) -> WorkOrderIssued:
    """Refuse an unknown work order or a stranger before their bytes are even read."""
    work_order = await get_work_order(store, work_order_id)
    uploader_role(work_order, uploader)
    return work_order


async def upload_photo(
    store: EventStore,
    storage: PhotoStorage,
    work_order: WorkOrderIssued,
    upload: NewPhoto,
    meta: Metadata,
    limits: Limits,
) -> Uploaded:
    """Check the bytes, store them and their served copy once, then record who uploaded them."""
    examined = await asyncio.to_thread(examine, upload.data, limits)
    info, sha256 = examined.info, examined.sha256
    key = object_key(sha256)

    async def store_served_copy() -> None:
        served = await asyncio.to_thread(served_copy, upload.data, limits)
        await storage.put(served_key(sha256), served, rendition.CONTENT_TYPE)

    # the original travels to S3 while its served copy is made
    await asyncio.gather(storage.put(key, upload.data, info.content_type), store_served_copy())
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
    return await retry_on_conflict(lambda: _record(store, work_order, cmd, meta))


def examine(data: bytes, limits: Limits) -> Examined:
    """CPU work, run off the event loop: check and decode the image and hash its bytes.
    UploadRejectedError when the bytes are refused."""
    info = imaging.inspect(
        data, max_pixels=limits.max_pixels, max_metadata_bytes=limits.max_metadata_bytes
    )
    return Examined(info, hashlib.sha256(data).hexdigest())


def served_copy(data: bytes, limits: Limits) -> bytes:
    """CPU work, run off the event loop: the copy clients see of bytes ``examine`` accepted."""
    return rendition.served_copy(data, max_side=limits.served_max_side)


async def _record(
    store: EventStore, work_order: WorkOrderIssued, cmd: UploadPhoto, meta: Metadata
) -> Uploaded:
    aggregate = subject_for("photos", cmd.work_order_id)
    loaded = await store.load(aggregate)
    photo_id = photo_id_for(cmd.work_order_id, cmd.sha256)
    events = decide_upload(work_order, loaded.events, cmd)
    if not events:
        return Uploaded(photos_of(loaded.records)[photo_id], recorded=False, duplicate=True)
    event = events[0]
    assert isinstance(event, PhotoUploaded)
    appended = await store.append(
        event,
        meta,
        expected_version=loaded.version,
        aggregate=aggregate,
        event_id=upload_event_id(cmd.work_order_id, cmd.sha256, cmd.uploader),
    )
    if appended.duplicate:  # a concurrent retry of this very upload got there first
        reloaded = await store.load(aggregate)
        return Uploaded(photos_of(reloaded.records)[photo_id], recorded=False, duplicate=True)
    records = [*loaded.records, Recorded(appended.seq, appended.envelope, event)]
    return Uploaded(photos_of(records)[photo_id], recorded=True, duplicate=event.duplicate)


async def list_photos(store: EventStore, work_order_id: uuid.UUID) -> list[Photo]:
    """The work order's photos, one per distinct image, in order of first upload."""
    loaded = await store.load(subject_for("photos", work_order_id))
    return list(photos_of(loaded.records).values())


async def get_photo(store: EventStore, work_order_id: uuid.UUID, photo_id: uuid.UUID) -> Photo:
    """One photo of the work order; NotFoundError when it has no such photo."""
    loaded = await store.load(subject_for("photos", work_order_id))
    photo = photos_of(loaded.records).get(photo_id)
    if photo is None:
        raise NotFoundError("no such photo on this work order")
    return photo


def photos_of(records: list[Recorded]) -> dict[uuid.UUID, Photo]:
    """Group upload records by photo, keeping the order of first upload."""
    grouped: dict[uuid.UUID, list[Recorded]] = {}
    for record in records:
        if isinstance(record.event, PhotoUploaded):
            grouped.setdefault(record.event.photo_id, []).append(record)
    return {photo_id: Photo(tuple(group)) for photo_id, group in grouped.items()}


def as_uploaded(record: Recorded) -> PhotoUploaded:
    assert isinstance(record.event, PhotoUploaded)
    return record.event
