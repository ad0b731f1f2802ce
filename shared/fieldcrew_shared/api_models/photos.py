"""Photos: what the services answer about one, and the upload form they document."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from fieldcrew_shared.events import Phase


class RenditionState(StrEnum):
    """Whether the copies clients see of a photo exist yet: they are made after the upload."""

    pending = "pending"  # being prepared: no ``url`` yet
    ready = "ready"
    failed = "failed"  # could not be made; the original is kept as evidence


class PhotoOut(BaseModel):
    id: UUID
    work_order_id: UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    uploaders: list[str]
    caption: str
    phase: Phase | None
    captured_at: datetime | None
    location: dict[str, float] | None
    uploaded_at: datetime
    duplicate: bool = False
    rendition: RenditionState = Field(
        default=RenditionState.ready,
        description="`pending` until the served copy and thumbnail are made after the upload",
    )
    url: str | None = Field(
        default=None, description="Short-lived URL of the served copy, once it is `ready`"
    )
    thumbnail_url: str | None = Field(
        default=None, description="Short-lived URL of the ~320 px thumbnail, once it is `ready`"
    )


MAX_CAPTION = 500
"""Characters in a photo's caption."""


PHOTO_UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A JPEG, PNG, WebP or HEIC image; its name is not used",
                        },
                        "caption": {"type": "string", "maxLength": MAX_CAPTION},
                        "phase": {"type": "string", "enum": [p.value for p in Phase]},
                    },
                }
            }
        },
    }
}
"""OpenAPI of the photo upload form (the photos service and the gateway document the same
multipart body without parsing it through FastAPI)."""
