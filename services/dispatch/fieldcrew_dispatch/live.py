"""Live updates as Server-Sent Events: a work order's events for its crew and the office, and
every work order's for the office (docs/design.md §13, ADR 0037).

Each event's SSE ``id`` is its stream sequence: a client that reconnects with ``Last-Event-ID``
gets what it missed from the log, then the live events, without gaps or repeats. A work order's
stream starts with its whole history; the office's with what happens from now on. Heartbeats
(SSE comments) keep idle connections and proxies open. A technician taken off the crew sees
their stream end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Request
from fieldcrew_shared.access import OFFICE_ROLES, crew_role, require_view
from fieldcrew_shared.errors import ForbiddenError, InvalidCommandError
from fieldcrew_shared.events import CrewChanged, work_order_subjects
from fieldcrew_shared.eventstore import SUBJECTS
from fieldcrew_shared.records import Recorded
from fieldcrew_shared.service import Log
from fieldcrew_shared.tail import ListenerTooSlowError, LogTail
from fieldcrew_shared.web import CurrentPrincipal
from sse_starlette.sse import EventSourceResponse

from fieldcrew_dispatch import handlers
from fieldcrew_dispatch.config import Settings
from fieldcrew_dispatch.feed import Viewer, shaped

router = APIRouter(tags=["live"])

LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=20, description="The last `id` this client got"),
]


def _tail(request: Request) -> LogTail:
    tail: LogTail = request.app.state.tail
    return tail


def _heartbeat(request: Request) -> float:
    settings: Settings = request.app.state.settings
    return settings.live_heartbeat


def _sequence(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    if not last_event_id.isdigit():
        raise InvalidCommandError("Last-Event-ID is the `id` of an event: a stream sequence")
    return int(last_event_id)


@router.get("/work-orders/{work_order_id}/events", response_class=EventSourceResponse)
async def work_order_events(
    work_order_id: UUID,
    request: Request,
    log: Log,
    principal: CurrentPrincipal,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """The work order's events as they are recorded, shaped for the caller (its crew and the
    office); from its beginning, or after ``Last-Event-ID``."""
    start = _sequence(last_event_id) or 0
    lc = await handlers.get_work_order(log, work_order_id)
    require_view(lc.crew, principal)
    viewer = Viewer(principal.sub, principal.role.value, crew_role(lc.crew, principal.sub))
    events = _tail(request).follow(work_order_subjects(work_order_id), start)
    messages = _messages(events, viewer, principal.valid_until)
    return EventSourceResponse(messages, ping=_heartbeat(request))


@router.get("/events", response_class=EventSourceResponse)
async def office_events(
    request: Request, principal: CurrentPrincipal, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Every work order's events as they are recorded (dispatcher, admin, analyst), from now
    on, or after ``Last-Event-ID``."""
    if principal.role not in OFFICE_ROLES:
        raise ForbiddenError("the office's feed is for dispatchers, admins and analysts")
    viewer = Viewer(principal.sub, principal.role.value)
    events = _tail(request).follow(SUBJECTS, _sequence(last_event_id))
    messages = _messages(events, viewer, principal.valid_until)
    return EventSourceResponse(messages, ping=_heartbeat(request))


def _deadline(valid_until: float | None) -> float | None:
    """``valid_until`` (wall-clock seconds) on the event loop's clock."""
    if valid_until is None:
        return None
    return asyncio.get_running_loop().time() + (valid_until - time.time())


async def _messages(
    events: AsyncIterator[Recorded], viewer: Viewer, valid_until: float | None
) -> AsyncIterator[dict[str, str]]:
    """Each event the viewer may see as an SSE message; ends when a crew change takes a
    watching technician off the crew, when the viewer fell too far behind (the client
    reconnects with its Last-Event-ID and catches up from the log), or when the viewer's
    token stops being accepted (a stream is no way around a token's expiry: the client
    reconnects with a fresh one)."""
    messages = _shaped(events, viewer)
    deadline = _deadline(valid_until)
    try:
        while True:
            timer = asyncio.timeout_at(deadline)  # around the wait only, never a yield
            try:
                async with timer:
                    message = await anext(messages)
            except (StopAsyncIteration, ListenerTooSlowError):
                return
            except TimeoutError:
                if timer.expired():
                    return
                raise
            yield message
    finally:
        await messages.aclose()


async def _shaped(
    events: AsyncIterator[Recorded], viewer: Viewer
) -> AsyncGenerator[dict[str, str]]:
    async for record in events:
        if isinstance(record.event, CrewChanged) and viewer.crew_role is not None:
            viewer = Viewer(viewer.user, viewer.role, crew_role(record.event.crew, viewer.user))
        message = shaped(record, viewer)
        if message is not None:
            yield {
                "id": str(message["seq"]),
                "event": message["type"],
                "data": orjson.dumps(message).decode(),
            }
        if viewer.role == "technician" and viewer.crew_role is None:
            return
