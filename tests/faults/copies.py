"""A photo's copies (the served copy and the thumbnail), made after its upload by the photos
service's rendition worker (docs/adr/0050): every photo the log names gets them, once,
whatever was killed, stopped or poisoned meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from fieldcrew_shared.events import PhotoRenditionFailed
from fieldcrew_shared.eventstore import EventStore

from tests.faults.logindex import LogIndex, read_log


async def wait_for_copies(
    store: EventStore, within: float, published_poison: Collection[int] = ()
) -> float | None:
    """Read the log again until every photo's copies have an outcome in it (made or failed),
    at most ``within`` seconds: how long it took, or None when some photo still had none."""
    began = time.monotonic()
    while True:
        index = await read_log(store, published_poison)
        waited = time.monotonic() - began
        if not index.uncopied():
            return waited
        if waited >= within:
            return None
        await asyncio.sleep(0.5)


def copies_problems(index: LogIndex) -> list[str]:
    """A photo without the outcome of its copies, or whose copies could not be made: the
    crews' photos are all good JPEGs, so neither may happen. (More than one outcome is a
    duplicate: :meth:`LogIndex.duplicates`.)"""
    out = []
    for pid in index.uncopied():
        wo, sha = index.firsts[pid]
        out.append(f"lost: the copies of photo {sha[:12]} of {wo} were never recorded")
    for outcomes in index.copies.values():
        for outcome in outcomes:
            if isinstance(outcome, PhotoRenditionFailed):
                out.append(f"the copies of photo {outcome.sha256[:12]} of "
                           f"{outcome.work_order_id} failed: {outcome.reason}")  # fmt: skip
    return out
