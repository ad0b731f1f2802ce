"""The documents service's events: share links created, revoked and viewed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from fieldcrew_shared.events.base import Event


class ShareLinkCreated(Event):
    """A dispatcher handed out a read-only link to one revision of the server report. Only the
    sha256 of the link's secret is recorded, never the secret."""

    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkCreated"

    link_id: UUID
    secret_sha256: str
    revision: int
    expires_at: datetime
    created_by: str


class ShareLinkRevoked(Event):
    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkRevoked"

    link_id: UUID
    revoked_by: str


class SharedView(StrEnum):
    """What a share link's holder opened."""

    page = "page"
    pdf = "pdf"


class ShareLinkViewed(Event):
    """Someone holding a share link opened its page or its PDF (the audit trail)."""

    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkViewed"

    link_id: UUID
    view: SharedView
