"""Share links' rules: who may hand out a link to a server report, and what a link opens.

Pure: ``fold(history) -> DocumentsState`` and ``decide_*(state, command) -> events``, run by
the command pipeline (``fieldcrew_shared.commands``); no I/O. A link opens one revision of one work
order's server report, until it expires or is revoked; it is known by its id and checked by
the sha256 of its secret (the secret itself is never recorded).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Event,
    ServerReportCompiled,
    SharedView,
    ShareLinkCreated,
    ShareLinkRevoked,
    ShareLinkViewed,
    WorkOrderIssued,
)
from fieldcrew_shared.records import Recorded

SHARING_ROLES = frozenset({"dispatcher", "admin"})
MAX_HOURS = 720


@dataclass(frozen=True)
class ShareLink:
    """One link as the log tells it."""

    link_id: UUID
    work_order_id: UUID
    secret_sha256: str
    revision: int
    expires_at: datetime
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    views: int = 0


Links = dict[UUID, ShareLink]


def evolve(links: Links, event: Event, recorded_at: datetime) -> Links:
    """Fold one event of the work order's documents history in."""
    if isinstance(event, ShareLinkCreated) and event.link_id not in links:
        links[event.link_id] = ShareLink(
            link_id=event.link_id,
            work_order_id=event.work_order_id,
            secret_sha256=event.secret_sha256,
            revision=event.revision,
            expires_at=event.expires_at,
            created_by=event.created_by,
            created_at=recorded_at,
        )
    elif isinstance(event, ShareLinkRevoked) and (link := links.get(event.link_id)):
        if link.revoked_at is None:
            links[event.link_id] = replace(
                link, revoked_at=recorded_at, revoked_by=event.revoked_by
            )
    elif isinstance(event, ShareLinkViewed) and (link := links.get(event.link_id)):
        links[event.link_id] = replace(link, views=link.views + 1)
    return links


@dataclass(frozen=True)
class DocumentsState:
    """What the sharing rules need of a work order: the work order as issued, the revisions of
    its server report announced so far, and its links."""

    work_order: WorkOrderIssued | None = None
    revisions: list[int] = field(default_factory=list)
    links: Links = field(default_factory=dict)


def fold(history: Iterable[Recorded]) -> DocumentsState:
    """The documents' view of a work order's history (any context's events, in log order)."""
    state = DocumentsState()
    for record in history:
        event = record.event
        if isinstance(event, WorkOrderIssued) and state.work_order is None:
            state = replace(state, work_order=event)
        elif isinstance(event, ServerReportCompiled) and event.revision not in state.revisions:
            state.revisions.append(event.revision)
        else:
            evolve(state.links, event, record.envelope.recorded_at)
    return state


@dataclass(frozen=True)
class CreateShareLink:
    work_order_id: UUID
    link_id: UUID
    secret_sha256: str
    expires_in_hours: int
    revision: int | None
    actor: str
    actor_role: str
    now: datetime


def decide_create(
    work_order: WorkOrderIssued | None, revisions: list[int], cmd: CreateShareLink
) -> list[Event]:
    """A link to ``cmd.revision`` (default: the newest compiled) of the work order's report."""
    if work_order is None:
        raise NotFoundError("no such work order")
    if cmd.actor_role not in SHARING_ROLES:
        raise ForbiddenError("only a dispatcher may share a report")
    if not 1 <= cmd.expires_in_hours <= MAX_HOURS:
        raise InvalidCommandError(f"a link lives 1 to {MAX_HOURS} hours", code="invalid_expiry")
    if not revisions:
        raise ConflictError("the server report is not compiled yet", code="not_compiled")
    revision = max(revisions) if cmd.revision is None else cmd.revision
    if revision not in revisions:
        raise NotFoundError(f"the server report has no revision {revision}", code="no_revision")
    return [
        ShareLinkCreated(
            work_order_id=cmd.work_order_id,
            link_id=cmd.link_id,
            secret_sha256=cmd.secret_sha256,
            revision=revision,
            expires_at=cmd.now + timedelta(hours=cmd.expires_in_hours),
            created_by=cmd.actor,
        )
    ]


@dataclass(frozen=True)
class RevokeShareLink:
    work_order_id: UUID
    link_id: UUID
    actor: str
    actor_role: str


def decide_revoke(
    work_order: WorkOrderIssued | None, links: Links, cmd: RevokeShareLink
) -> list[Event]:
    """Revoke the link; nothing when it is revoked already (a retried DELETE)."""
    if work_order is None:
        raise NotFoundError("no such work order")
    if cmd.actor_role not in SHARING_ROLES:
        raise ForbiddenError("only a dispatcher may revoke a share link")
    link = links.get(cmd.link_id)
    if link is None:
        raise NotFoundError("no such share link on this work order")
    if link.revoked_at is not None:
        return []
    return [
        ShareLinkRevoked(work_order_id=cmd.work_order_id, link_id=cmd.link_id, revoked_by=cmd.actor)
    ]


def opened_link(links: Links, link_id: UUID, secret_sha256: str, now: datetime) -> ShareLink:
    """The link a token opens: NotFoundError for an unknown link or a wrong secret (a tampered
    token), GoneError once it is revoked or expired."""
    link = links.get(link_id)
    if link is None or not hmac.compare_digest(link.secret_sha256, secret_sha256):
        raise NotFoundError("no such share link", code="no_share_link")
    if link.revoked_at is not None:
        raise GoneError("this link was revoked", code="share_link_revoked")
    if now >= link.expires_at:
        raise GoneError("this link has expired", code="share_link_expired")
    return link


def decide_view(
    links: Links, link_id: UUID, secret_sha256: str, now: datetime, view: SharedView
) -> tuple[ShareLink, list[Event]]:
    """The link opened, and the record that it was (page or PDF)."""
    link = opened_link(links, link_id, secret_sha256, now)
    viewed = ShareLinkViewed(work_order_id=link.work_order_id, link_id=link_id, view=view)
    return link, [viewed]
