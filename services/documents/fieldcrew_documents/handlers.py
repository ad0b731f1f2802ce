"""Documents' command and query handlers: load the work order's documents history from the
log, decide, append; render a report revision as a PDF."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fieldcrew_shared.access import DISPATCH_ROLES, require_view
from fieldcrew_shared.auth import Principal
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import SharedView, subject_for
from fieldcrew_shared.eventstore import EventStore, retry_on_conflict
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
    evolve,
    opened_link,
)
from fieldcrew_documents.links import new_token, parse_token
from fieldcrew_documents.storage import PhotoCopies, printable


@dataclass(frozen=True)
class History:
    """A work order's share links and the sequence to expect when appending to them."""

    links: Links
    version: int


async def load_links(store: EventStore, work_order_id: UUID) -> History:
    loaded = await store.load(subject_for("documents", work_order_id))
    links: Links = {}
    for record in loaded.records:
        evolve(links, record.event, record.envelope.recorded_at)
    return History(links, loaded.version)


@dataclass(frozen=True)
class NewLink:
    token: str
    link: ShareLink


async def create_link(
    store: EventStore,
    work_order_id: UUID,
    expires_in_hours: int,
    revision: int | None,
    principal: Principal,
    meta: Metadata,
) -> NewLink:
    """Record a new link to a revision of the work order's server report."""
    token, named = new_token(work_order_id)
    work_order = await reports.work_order(store, work_order_id)
    revisions = list(await reports.revisions(store, work_order_id))
    aggregate = subject_for("documents", work_order_id)

    async def attempt() -> NewLink:
        history = await load_links(store, work_order_id)
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
        events = decide_create(work_order, revisions, cmd)
        appended = await store.append(
            events[0],
            meta,
            expected_version=history.version,
            aggregate=aggregate,
            event_id=named.link_id,
        )
        links = evolve(history.links, events[0], appended.envelope.recorded_at)
        return NewLink(token, links[named.link_id])

    return await retry_on_conflict(attempt)


async def revoke_link(
    store: EventStore, work_order_id: UUID, link_id: UUID, principal: Principal, meta: Metadata
) -> None:
    """Revoke a link (nothing happens when it is revoked already)."""
    aggregate = subject_for("documents", work_order_id)
    cmd = RevokeShareLink(work_order_id, link_id, principal.sub, principal.role.value)
    work_order = await reports.work_order(store, work_order_id)

    async def attempt() -> None:
        history = await load_links(store, work_order_id)
        for event in decide_revoke(work_order, history.links, cmd):
            await store.append(event, meta, expected_version=history.version, aggregate=aggregate)

    await retry_on_conflict(attempt)


async def list_links(store: EventStore, work_order_id: UUID, principal: Principal) -> Links:
    """Every link of the work order, for the dispatcher."""
    work_order = await reports.work_order(store, work_order_id)
    if work_order is None:
        raise NotFoundError("no such work order")
    principal.require(*DISPATCH_ROLES)
    return (await load_links(store, work_order_id)).links


@dataclass(frozen=True)
class Opened:
    link: ShareLink
    report: reports.Report


async def open_link(store: EventStore, token: str, view: SharedView | None) -> Opened:
    """The report a token opens; with a ``view``, the opening is recorded (the audit trail)."""
    named = parse_token(token)
    history = await load_links(store, named.work_order_id)
    now = datetime.now(UTC)
    if view is None:
        link = opened_link(history.links, named.link_id, named.secret_sha256, now)
    else:
        link, events = decide_view(history.links, named.link_id, named.secret_sha256, now, view)
        meta = Metadata(
            actor=f"share:{link.link_id}", actorrole="anonymous", correlationid=str(link.link_id)
        )
        for event in events:
            await store.append(event, meta)
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
