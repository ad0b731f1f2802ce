"""Announce compiled server reports: ``ServerReportCompiled`` for every new revision.

Runs beside the live runner (never during a rebuild), on what the projection put in its
outbox. An announcement is the revision, a summary and the report; a report too large for one
message comfortably travels in parts appended just before its announcement, so that every
message fits NATS's limit whatever the report's size (ADR 0028). A revision leaves the outbox
once appended, and again (a no-op, or after a crash in between) when the projection reads the
event back from the log.

Never twice: before appending, a round reads the newest announcement of each of its work
orders from the log (one batched direct get) and skips the revisions already there, whoever
appended them and however long ago: JetStream's de-duplication (the event id is derived from
the work order and revision) only covers its two-minute window, and a process that died
between the append and the outbox's DELETE may start again much later.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, MutableMapping
from contextlib import suppress
from uuid import UUID

import asyncpg
import orjson
from fieldcrew_shared.database import BoundedPool
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import (
    INLINE_REPORT_BYTES,
    Event,
    ServerReportCompiled,
    ServerReportPart,
    report_summary,
    split_report,
    subject_for,
)
from fieldcrew_shared.eventstore import EventStore

from fieldcrew_aggregator import queries
from fieldcrew_aggregator.projection import ServerReportProjection

log = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("a3c1e0f4-7d2b-4c55-9b7e-3f1d2e6a8c90")
SYSTEM = "fieldcrew-aggregator"
BATCH = 500  # revisions read from the outbox at a time


# the trace context (traceparent, tracestate) each revision compiled in, by (work order, revision)
Traced = MutableMapping[tuple[UUID, int], tuple[str | None, str | None]]


async def publish_pending(
    store: EventStore,
    pool: asyncpg.Pool,
    schema: str,
    traced: Traced | None = None,
    *,
    seconds: float = 30.0,
) -> int:
    """Publish every compiled revision not yet announced, in the order they compiled;
    returns how many were appended. Each round's announcements are in flight together and
    leave the outbox in one statement: one after the other, each waiting for its
    acknowledgement and its DELETE, the last of a busy batch's reports was announced ~0.3 s
    after it compiled on a loaded machine (bench/README.md). Each step of a round is bounded
    by ``seconds``. Each announcement (its parts too) carries the trace context its revision
    compiled in, when ``traced`` holds it."""
    db = BoundedPool(pool, seconds)
    published = 0
    while True:
        rows = await queries.unannounced(db, schema, BATCH)
        if rows:
            fresh = await _not_in_the_log(store, rows)
            contexts: Traced = {} if traced is None else traced
            if fresh:
                items = [item for r in fresh for item in _announcement(r, contexts)]
                await store.append_many(items, within=seconds)
            revisions = [(r["work_order_id"], r["revision"]) for r in rows]
            for revision in revisions:
                contexts.pop(revision, None)
            await queries.announced(db, schema, revisions)
            published += len(fresh)
        if len(rows) < BATCH:
            return published


async def _not_in_the_log(store: EventStore, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    """``rows`` but the revisions whose announcement the log already holds (revisions of a
    work order are announced in order, so the newest announcement covers every one before)."""
    subjects = sorted({_subject(r["work_order_id"]) for r in rows})
    newest: dict[UUID, int] = {}
    for raw in (await store.latest(subjects)).values():
        try:
            event = raw.decoded().event
        except PoisonEventError:  # not ours to judge here: the projection dead-letters it
            continue
        if isinstance(event, ServerReportCompiled):
            newest[event.work_order_id] = event.revision
    return [r for r in rows if r["revision"] > newest.get(r["work_order_id"], 0)]


def _subject(work_order_id: UUID) -> str:
    return subject_for("aggregator", work_order_id, ServerReportCompiled.name)


Item = tuple[Event, Metadata, uuid.UUID]


def _announcement(row: asyncpg.Record, traced: Traced) -> list[Item]:
    """The events announcing one revision: ``ServerReportCompiled`` with its report, or, for
    a report too large to travel whole, the parts holding it and then the announcement. All
    of them in the trace of the compile (the request that completed the report), if known."""
    wo, revision, text = row["work_order_id"], row["revision"], row["report"]
    traceparent, tracestate = traced.get((wo, revision), (None, None))
    meta = Metadata(
        actor=SYSTEM,
        actorrole="system",
        correlationid=str(wo),
        traceparent=traceparent,
        tracestate=tracestate,
    )
    report = orjson.loads(text)
    summary = report_summary(report)
    raw = text.encode()
    if len(raw) <= INLINE_REPORT_BYTES:
        event = ServerReportCompiled(work_order_id=wo, revision=revision, report=report, **summary)
        return [(event, meta, _event_id(wo, revision))]
    chunks = split_report(raw)
    items: list[Item] = [
        (
            ServerReportPart(
                work_order_id=wo, revision=revision, index=i, count=len(chunks), chunk=chunk
            ),
            meta,
            _event_id(wo, revision, f"part:{i}"),
        )
        for i, chunk in enumerate(chunks)
    ]
    event = ServerReportCompiled(
        work_order_id=wo, revision=revision, report_parts=len(chunks), **summary
    )
    return [*items, (event, meta, _event_id(wo, revision))]


def _event_id(wo: UUID, revision: int, part: str = "") -> uuid.UUID:
    """Derived from what it announces: a repeat within JetStream's window is dropped."""
    return uuid.uuid5(NAMESPACE, f"{wo}:{revision}" + (f":{part}" if part else ""))


class Announcer:
    """Publishes what the projection put in its outbox: called, it does so at once; run
    (:meth:`run`, supervised), it does so at start, whenever the live runner's after-commit
    step (:meth:`after_commit`) asks, and every ``interval`` seconds in any case, so that a
    revision never waits for a later commit (one compiled by another replica, one left by a
    failed round). After a batch that compiled nothing (most batches) a commit does not
    ask, unless the live schema changed."""

    def __init__(
        self,
        store: EventStore,
        pool: asyncpg.Pool,
        projection: ServerReportProjection,
        *,
        live_schema: Callable[[], str] | None = None,
        interval: float = 1.0,
        seconds: float = 30.0,
    ) -> None:
        self.store, self.pool, self.projection = store, pool, projection
        self.live_schema = live_schema or (lambda: projection.name)
        self.interval = interval
        self.seconds = seconds  # what each step of a round may take
        self.looked_at: str | None = None  # the schema whose outbox was last emptied
        self._due = asyncio.Event()
        self._closing = False

    async def __call__(self, schema: str) -> None:
        """Publish everything waiting in ``schema``'s outbox now."""
        self.projection.outboxed, self.looked_at = False, None
        await publish_pending(
            self.store, self.pool, schema, self.projection.compiled_in, seconds=self.seconds
        )
        self.looked_at = schema

    async def after_commit(self, schema: str) -> None:
        if schema == self.looked_at and not self.projection.outboxed:
            return
        self._due.set()

    async def run(self) -> None:
        """Announce until :meth:`close`: at once, then when asked or every ``interval``. A
        failed round raises (the supervisor logs it and starts this again)."""
        while not self._closing:
            self._due.clear()
            await self(self.live_schema())
            with suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._due.wait()

    def close(self) -> None:
        """Make :meth:`run` return once the round in progress is done (what is left waits in
        the outbox for the next start)."""
        self._closing = True
        self._due.set()
