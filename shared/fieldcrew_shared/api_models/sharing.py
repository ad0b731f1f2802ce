"""Share links: read-only links to one revision of the server report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from fieldcrew_shared.api_models.constraints import MAX_QUERY_INT, Strict

MAX_SHARE_HOURS = 720
"""A share link lives at most 30 days."""


class CreateShareLinkRequest(Strict):
    expires_in_hours: int = Field(ge=1, le=MAX_SHARE_HOURS, strict=True)
    revision: int | None = Field(
        default=None, ge=1, le=MAX_QUERY_INT, strict=True, description="Default: the newest"
    )


class ShareLinkOut(BaseModel):
    """A new share link. ``url`` holds its secret and is shown this once: only a hash of the
    secret is kept."""

    id: UUID
    url: str
    expires_at: datetime
    revision: int


class ShareLinkState(StrEnum):
    active = "active"
    revoked = "revoked"
    expired = "expired"


class ShareLinkSummary(BaseModel):
    """A share link as the office sees it later (without its secret)."""

    id: UUID
    revision: int
    state: ShareLinkState
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    views: int
