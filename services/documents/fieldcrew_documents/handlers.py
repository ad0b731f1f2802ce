"""Documents' command and query handlers: each command through the one pipeline
(``fieldcrew_shared.commands``) with the documents' fold and decisions; render a report
revision as a PDF."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fieldcrew_shared.access import DISPATCH_ROLES, require_view
from fieldcrew_shared.auth import Principal
from fieldcrew_shared.commands import CommandPipeline, EventLog
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import SharedView
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.fingerprint import fingerprint

from fieldcrew_documents import pdf, reports
from fieldcrew_documents.domain import (
    CreateShareLink,
    Links,
    RevokeShareLink,
    ShareLink,
    decide_create,
    decide_revoke,
    decide_view,
    fold,
    opened_link,
)
from fieldcrew_documents.links import new_token, parse_token
from fieldcrew_documents.storage import PhotoCopies, printable

PIPELINE = CommandPipeline(fold)


async def load_links(store: EventLog, work_order_id: UUID) -> Links:
    """The work order's share links."""
    state, _ = await PIPELINE.view(store, work_order_id)
    return state.links


@dataclass(frozen=True)
class NewLink:
    token: str
    link: ShareLink


async def create_link(
    store: EventLog,
    work_order_id: UUID,
    expires_in_hours: int,
    revision: int | None,
    principal: Principal,
    meta: Metadata,
) -> NewLink:
    """Record a new link to a revision of the work order's server report."""
    token, named = new_token(work_order_id)
    cmd = CreateShareLink(
        work_order_id,
        named.link_id,
        named.secret_sha256,
        expires_in_hours,
        revision,
        principal.sub,
        principal.role.value,
        datetime.now(UTC),
    )
    done = await PIPELINE.run(
        store,
        work_order_id,
        named.link_id,
        lambda s: decide_create(s.work_order, s.revisions, cmd),
        meta,
    )
    return NewLink(token, done.state.links[named.link_id])


async def revoke_link(
    store: EventLog, work_order_id: UUID, link_id: UUID, principal: Principal, meta: Metadata
) -> None:
    """Revoke a link (nothing happens when it is revoked already)."""
    cmd = RevokeShareLink(work_order_id, link_id, principal.sub, principal.role.value)
    await PIPELINE.run(
        store,
        work_order_id,
        uuid.uuid4(),
        lambda s: decide_revoke(s.work_order, s.links, cmd),
        meta,
    )


async def list_links(store: EventLog, work_order_id: UUID, principal: Principal) -> Links:
    """Every link of the work order, for the dispatcher."""
    state, _ = await PIPELINE.view(store, work_order_id)
    if state.work_order is None:
        raise NotFoundError("no such work order")
    principal.require(*DISPATCH_ROLES)
    return state.links


@dataclass(frozen=True)
class Opened:
    link: ShareLink
    report: reports.Report


async def open_link(store: EventStore, token: str, view: SharedView | None) -> Opened:
    """The report a token opens; with a ``view``, the opening is recorded (the audit trail)."""
    named = parse_token(token)
    now = datetime.now(UTC)
    if view is None:
        links = await load_links(store, named.work_order_id)
        link = opened_link(links, named.link_id, named.secret_sha256, now)
    else:
        meta = Metadata(
            actor=f"share:{named.link_id}", actorrole="anonymous", correlationid=str(named.link_id)
        )
        done = await PIPELINE.run(
            store,
            named.work_order_id,
            uuid.uuid4(),
            lambda s: decide_view(s.links, named.link_id, named.secret_sha256, now, view)[1],
            meta,
        )
        link = done.state.links[named.link_id]
    report = reports.pick(await reports.revisions(store, named.work_order_id), link.revision)
    return Opened(link, report)


async def report_for(
    store: EventStore, work_order_id: UUID, revision: int | None, principal: Principal
) -> reports.Report:
    """A revision of the server report, for the dispatcher and the crew (not the analyst:
    the PDF prints the photos)."""
    work_order = await reports.work_order(store, work_order_id)
    if work_order is None:
        raise NotFoundError("no such work order")
    require_view(work_order.crew, principal, DISPATCH_ROLES)
    return reports.pick(await reports.revisions(store, work_order_id), revision)


async def render_pdf(copies: PhotoCopies, report: reports.Report, max_side: int) -> bytes:
    """The PDF of ``report`` with every photo's served copy scaled to print."""

    async def one(photo: dict[str, object]) -> tuple[str, pdf.Printable | None]:
        served = await copies.served(str(photo["sha256"]))
        if served is None:
            return str(photo["photo_id"]), None
        return str(photo["photo_id"]), await asyncio.to_thread(printable, served, max_side)

    images = dict(await asyncio.gather(*(one(p) for p in report.get("photos", []))))
    return await asyncio.to_thread(pdf.build, report, fingerprint(report), images)
