"""The rendition worker: the copies clients see of a photo are made after its upload answered
(docs/adr/0050).

A durable JetStream consumer (``photos-renditions``) delivers every ``PhotoUploaded``. For
each one the :class:`RenditionMaker` decides against the log whether the photo still needs
its copies, reads the original, checks it against its digest, makes the served copy and the
thumbnail from one decode, stores both and records ``PhotoRenditionsMade``. The effect is
idempotent, keyed by the upload: the objects are content addressed (the same bytes again
under the same keys), and the event is appended only when the log has no outcome for the
photo yet, through the command pipeline (under the expected version of the work order's
history, with an id derived from the upload's). So a redelivery, a second replica or a
consumer made again from the start of the log records nothing twice; the consumer's
acknowledgements are its position.

A photo whose copies cannot be made (an original that does not decode, is missing or does
not match its digest, a bug) is tried again after a delay that doubles, and after the last
try dead-lettered: ``PhotoRenditionFailed`` with the reason, and the photo list says so.
Object storage or NATS being away is not the photo's fault: the delivery is put back for
later and counts toward nothing. An event that cannot even be read is logged and terminated
(JetStream stops delivering it). Uploads never wait for any of this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from fieldcrew_shared import tracing
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import (
    BackendUnavailableError,
    ConcurrencyError,
    PoisonEventError,
)
from fieldcrew_shared.events import Event, PhotoUploaded
from fieldcrew_shared.eventstore import EventStore
from fieldcrew_shared.health import Details
from fieldcrew_shared.records import RawEvent, Recorded
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_photos import rendition
from fieldcrew_photos.copier import Copier
from fieldcrew_photos.domain import (
    PhotosState,
    RecordRenditionFailure,
    RecordRenditions,
    decide_rendition_failed,
    decide_renditions,
    needs_renditions,
    rendition_command_id,
)
from fieldcrew_photos.handlers import PIPELINE
from fieldcrew_photos.storage import PhotoStorage, served_key, thumbnail_key

log = logging.getLogger(__name__)

DURABLE = "photos-renditions"
UPLOADS = "fieldcrew.photos.*.PhotoUploaded"
SYSTEM = "fieldcrew-photos"
MAX_REASON = 500
MAX_DELAY = 300.0
ACK_WAIT = 120  # seconds before a delivery nobody settled is sent again
# Failures that are not the photo's: tried again later without counting toward giving up
NOT_THE_PHOTOS_FAULT = (BackendUnavailableError, ConcurrencyError)


@dataclass(frozen=True)
class Retry:
    """``attempts`` tries in all, the second ``first_delay`` seconds after the first, each
    next wait twice the one before (at most five minutes)."""

    attempts: int
    first_delay: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after try number ``attempt`` (1-based) failed."""
        return float(min(self.first_delay * 2 ** (attempt - 1), MAX_DELAY))


class RenditionMaker:
    """Makes and records one photo's copies, at most once (see the module docstring)."""

    def __init__(self, store: EventStore, storage: PhotoStorage, copier: Copier) -> None:
        self.store, self.storage, self.copier = store, storage, copier

    async def make(self, record: Recorded) -> bool:
        """Make and record the copies of ``record``'s photo unless the log says there is
        nothing to do; True when they were made now."""
        upload = _upload(record)
        state, _ = await PIPELINE.view(self.store, upload.work_order_id)
        if not needs_renditions(state, upload):
            return False
        made = await self.copier.make(upload.object_key, upload.sha256)
        served, thumbnail = served_key(upload.sha256), thumbnail_key(upload.sha256)
        # the thumbnail last: when it exists, both do
        await self.storage.put(served, made.served.data, rendition.CONTENT_TYPE)
        await self.storage.put(thumbnail, made.thumbnail.data, rendition.CONTENT_TYPE)
        cmd = RecordRenditions(
            upload, served, made.served.width, made.served.height,
            thumbnail, made.thumbnail.width, made.thumbnail.height,
        )  # fmt: skip
        await self._record(record, "made", lambda state: decide_renditions(state, cmd))
        return True

    async def give_up(self, record: Recorded, reason: str, attempts: int) -> None:
        """Record that ``record``'s photo has no copies (dead-lettered), unless an outcome is
        recorded already."""
        cmd = RecordRenditionFailure(_upload(record), reason[:MAX_REASON], attempts)
        await self._record(record, "failed", lambda state: decide_rendition_failed(state, cmd))

    async def _record(
        self, record: Recorded, outcome: str, decide: Callable[[PhotosState], list[Event]]
    ) -> None:
        """Through the command pipeline, as the photos service's own command: one outcome per
        photo, whatever races it."""
        meta = Metadata(
            actor=SYSTEM,
            actorrole="system",
            correlationid=record.envelope.correlationid,
            causationid=record.envelope.id,
        )
        command = rendition_command_id(record.envelope.id, outcome)
        await PIPELINE.run(self.store, _upload(record).work_order_id, command, decide, meta)


class RenditionWorker:
    """Feeds a :class:`RenditionMaker` from the durable consumer, ``lanes`` photos at once,
    retrying and dead-lettering as the module docstring says. Meant to run supervised."""

    def __init__(self, store: EventStore, maker: RenditionMaker, *, lanes: int, retry: Retry):
        self.store, self.maker, self.lanes, self.retry = store, maker, lanes, retry
        self.made = 0  # photos whose copies this process made
        self.dead_lettered = 0

    def consumer_config(self) -> api.ConsumerConfig:
        """Every upload from the start of the log: a consumer made again (lost, or new with
        photos already uploaded) goes through them all, and records only what is missing."""
        return api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL,
            max_ack_pending=256,
            ack_wait=ACK_WAIT,
        )

    async def ensure_consumer(self) -> None:
        """Make the durable consumer unless it exists: done at start, so that ``/readyz`` can
        show the lag from its first probe (a consumer lost later is made again by ``run``)."""
        js, stream = self.store.js, self.store.stream
        try:
            await js.consumer_info(stream, DURABLE)
        except JsNotFoundError:
            config = self.consumer_config()
            config.name = config.durable_name = DURABLE
            config.filter_subject = UPLOADS
            await js.add_consumer(stream, config)
        except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
            raise BackendUnavailableError("JetStream is not answering") from exc

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish the photos in hand. Raises when NATS
        fails it (a lost consumer, a closed connection): its supervisor starts it again."""
        sub = await self.store.js.pull_subscribe(
            UPLOADS, durable=DURABLE, stream=self.store.stream, config=self.consumer_config()
        )
        lanes = asyncio.Semaphore(self.lanes)
        try:
            async with asyncio.TaskGroup() as tasks:
                while not stop.is_set():
                    await lanes.acquire()
                    msg = None if stop.is_set() else await self._next(sub)
                    if msg is None:
                        lanes.release()
                        continue
                    tasks.create_task(self._in_lane(msg, lanes))
        except ExceptionGroup as group:
            raise group.exceptions[0] from group  # the first failure names what went wrong
        finally:
            with suppress(NatsError):  # a pull subscription left open makes drain() hang
                await sub.unsubscribe()

    async def lag(self) -> Details:
        """How far behind the worker is: uploads not yet delivered (``pending``), delivered
        and not yet done (``ack_pending``, waits before a retry included)."""
        try:
            info = await self.store.js.consumer_info(self.store.stream, DURABLE)
        except JsNotFoundError as exc:
            raise BackendUnavailableError(f"durable consumer {DURABLE} does not exist") from exc
        except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
            raise BackendUnavailableError("JetStream is not answering") from exc
        return {
            "pending": info.num_pending or 0,
            "ack_pending": info.num_ack_pending or 0,
            "redelivered": info.num_redelivered or 0,
            "made": self.made,
            "dead_lettered": self.dead_lettered,
        }

    async def _next(self, sub: JetStreamContext.PullSubscription) -> Msg | None:
        try:
            msgs = await sub.fetch(1, timeout=1.0)
        except NatsTimeoutError:
            return None
        return msgs[0] if msgs else None

    async def _in_lane(self, msg: Msg, lanes: asyncio.Semaphore) -> None:
        try:
            await self.handle(msg)
        finally:
            lanes.release()

    async def handle(self, msg: Msg) -> None:
        """One delivery: made (or nothing to do) and acked, put back for a retry, or given up
        on and acked."""
        raw = RawEvent(msg.metadata.sequence.stream, msg.subject, msg.data)
        try:
            record = raw.decoded()
            _upload(record)
        except PoisonEventError as exc:
            log.error("rendition: unreadable upload event set aside",
                      extra={"seq": raw.seq, "why": exc.message})  # fmt: skip
            await msg.term()
            return
        # in the upload's trace (its CloudEvents traceparent), so are the events it records
        parent = tracing.parent_of(record.envelope.traceparent, record.envelope.tracestate)
        with tracing.span("make photo renditions", parent=parent):
            await self._attempt(msg, record)

    async def _attempt(self, msg: Msg, record: Recorded) -> None:
        attempt = msg.metadata.num_delivered or 1
        try:
            self.made += await self.maker.make(record)
        except NOT_THE_PHOTOS_FAULT as exc:
            log.warning("rendition postponed", extra={"seq": record.seq, "why": exc.message})
            await msg.nak(delay=self.retry.delay(attempt))
            return
        except Exception as exc:  # the photo's own failure, or a bug it meets
            await self._failed(msg, record, f"{type(exc).__name__}: {exc}", attempt)
            return
        await msg.ack()

    async def _failed(self, msg: Msg, record: Recorded, reason: str, attempt: int) -> None:
        seq = record.seq
        if attempt < self.retry.attempts:
            delay = self.retry.delay(attempt)
            why = {"seq": seq, "why": reason, "attempt": attempt, "retry_in": delay}
            log.warning("rendition failed; will try again", extra=why)
            await msg.nak(delay=delay)
            return
        try:
            await self.maker.give_up(record, reason, attempt)
        except NOT_THE_PHOTOS_FAULT as exc:
            log.warning("rendition failure not recorded", extra={"seq": seq, "why": exc.message})
            await msg.nak(delay=self.retry.delay(attempt))
            return
        log.error("rendition dead-lettered", extra={"seq": seq, "why": reason, "attempts": attempt})
        self.dead_lettered += 1
        await msg.ack()


def _upload(record: Recorded) -> PhotoUploaded:
    if not isinstance(record.event, PhotoUploaded):
        raise PoisonEventError(f"{record.envelope.type} is not a photo upload")
    return record.event
