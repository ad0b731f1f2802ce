"""Waiting for a photo's renditions in the log: the thing itself, not a sleep."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fieldcrew_shared.envelope import decode_event
from fieldcrew_shared.events import (
    Event,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
)
from fieldcrew_shared.eventstore import EventStore
from nats.js.api import DeliverPolicy

Outcome = PhotoRenditionsMade | PhotoRenditionFailed


async def rendition_outcome(
    log: EventStore, wo: UUID, photo_id: UUID, within: float = 30
) -> Outcome:
    """The first ``PhotoRenditionsMade`` or ``PhotoRenditionFailed`` of the photo, read by an
    ordered consumer of the work order's photo events (recorded before we looked or after)."""
    found: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

    async def on_msg(msg: Any) -> None:
        _, event = decode_event(msg.data)
        if isinstance(event, Outcome) and event.photo_id == photo_id and not found.done():
            found.set_result(event)

    sub = await log.js.subscribe(
        f"fieldcrew.photos.{wo}.*", cb=on_msg, ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(within):
            return await found
    finally:
        await sub.unsubscribe()


async def outcomes(log: EventStore, wo: UUID) -> list[Event]:
    """Every rendition outcome recorded for the work order's photos, in log order."""
    events = (await log.load(f"fieldcrew.photos.{wo}.>")).events
    return [e for e in events if isinstance(e, Outcome)]


async def all_made(log: EventStore, wo: UUID | str) -> None:
    """Wait until every photo of the work order has its copies (``PhotoRenditionsMade``)."""
    work_order = UUID(str(wo))
    loaded = await log.load(f"fieldcrew.photos.{work_order}.PhotoUploaded")
    firsts = [e for e in loaded.events if isinstance(e, PhotoUploaded) and not e.duplicate]
    for upload in firsts:
        outcome = await rendition_outcome(log, work_order, upload.photo_id)
        assert isinstance(outcome, PhotoRenditionsMade), outcome
