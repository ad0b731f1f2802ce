"""The photos service's events: a photo uploaded, and its copies made or given up on."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from fieldcrew_shared.events.base import Event
from fieldcrew_shared.events.team import Phase


class GeoPoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    lat: float
    lon: float


class PhotoUploaded(Event):
    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoUploaded"

    photo_id: UUID
    sha256: str
    object_key: str
    content_type: str
    size: int
    width: int
    height: int
    uploader: str
    uploader_role: str
    caption: str = ""
    phase: Phase | None = None
    captured_at: datetime | None = None
    location: GeoPoint | None = None
    duplicate: bool = False


class PhotoRenditionsMade(Event):
    """The copies clients see of a photo were made after its upload: the served copy
    (re-encoded, no metadata) and the thumbnail, both in the photo bucket under keys named by
    the upload's sha256."""

    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoRenditionsMade"

    photo_id: UUID
    sha256: str
    served_key: str
    served_width: int
    served_height: int
    thumbnail_key: str
    thumbnail_width: int
    thumbnail_height: int


class PhotoRenditionFailed(Event):
    """The copies of a photo could not be made, after ``attempts`` tries: the photo is shown
    without them. The original is kept unchanged as evidence."""

    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoRenditionFailed"

    photo_id: UUID
    sha256: str
    reason: str
    attempts: int
