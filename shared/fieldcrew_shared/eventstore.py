"""The JetStream event store: the one write path of every service (docs/conventions.md §6).

- ``append`` publishes one event with ``Nats-Msg-Id`` = event id (server-side de-duplication of
  retries) and, when the caller gives an expected version, with
  ``Nats-Expected-Last-Subject-Sequence`` (+ ``-Subject`` for the aggregate's wildcard) so that
  two concurrent commands on one aggregate cannot both win: the loser gets ConcurrencyError.
- Its reads (``load``, ``last``, ``read``, ...) are :class:`fieldcrew_shared.logreader.LogReader`'s.

``connect`` (:mod:`fieldcrew_shared.natsclient`) and the records are importable from here too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from uuid import UUID

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.errors import APIError
from opentelemetry.trace import SpanKind

from fieldcrew_shared import stream, tracing
from fieldcrew_shared.envelope import Envelope, Metadata, encode, seal
from fieldcrew_shared.errors import ConcurrencyError
from fieldcrew_shared.events import Event, subject_for
from fieldcrew_shared.jetstream import Acks, count_many, failure, pub_ack
from fieldcrew_shared.logreader import LogReader
from fieldcrew_shared.metrics import APPEND_DURATION, APPENDS
from fieldcrew_shared.natsclient import connect
from fieldcrew_shared.records import Appended, Loaded, RawEvent, Recorded
from fieldcrew_shared.stream import STREAM, SUBJECTS

__all__ = [
    "STREAM",
    "SUBJECTS",
    "Appended",
    "EventStore",
    "Loaded",
    "RawEvent",
    "Recorded",
    "connect",
]

WRONG_LAST_SEQUENCE = 10071


class EventStore(LogReader):
    """Appends to and reads from the ``FIELDCREW`` stream on behalf of one service."""

    def __init__(self, nc: NATS, *, source: str, stream: str = STREAM, timeout: float = 5.0):
        super().__init__(nc, stream=stream, timeout=timeout)
        self.source = source
        self._acks_ready: asyncio.Future[Acks] | None = None

    async def ensure_stream(
        self,
        *,
        replicas: int = 1,
        update: bool = False,
        duplicate_window: float = stream.DUPLICATE_WINDOW,
    ) -> None:
        """Create the stream if it is missing (with ``duplicate_window``); check its
        configuration when it is there (:func:`fieldcrew_shared.stream.ensure_stream`:
        ``update`` is for the NATS admin)."""
        await stream.ensure_stream(
            self.js, self.stream, replicas=replicas, update=update,
            duplicate_window=duplicate_window,
        )  # fmt: skip

    async def append(
        self,
        event: Event,
        meta: Metadata,
        *,
        expected_version: int | None = None,
        aggregate: str | None = None,
        event_id: UUID | None = None,
    ) -> Appended:
        """Append one event. ``expected_version`` is the aggregate's last sequence when loaded
        (0: the aggregate must be empty); ``aggregate`` the wildcard that defines it."""
        name = f"publish {event.type_name()}"
        with tracing.span(name, kind=SpanKind.PRODUCER):  # the event carries this span's context
            return await self._append(event, meta, expected_version, aggregate, event_id)

    async def _append(
        self,
        event: Event,
        meta: Metadata,
        expected_version: int | None,
        aggregate: str | None,
        event_id: UUID | None,
    ) -> Appended:
        envelope = seal(event, meta, source=self.source, event_id=event_id)
        headers = {"Nats-Msg-Id": envelope.id}
        if expected_version is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_version)
            if aggregate is not None:
                headers["Nats-Expected-Last-Subject-Sequence-Subject"] = aggregate
        subject = _subject(event, envelope)
        acks: Acks | None = None
        token = None
        result = "failed"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                acks = await self._acks()
                token, reply = await acks.publish(subject, encode(envelope), headers)
                seq, duplicate = pub_ack(await reply)
            result = "duplicate" if duplicate else "stored"
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                result = "conflict"
                raise ConcurrencyError(f"{aggregate or subject} changed") from exc
            raise failure(exc, "store the event") from exc
        except (TimeoutError, NatsError) as exc:
            raise failure(exc, "store the event") from exc
        finally:
            if acks is not None and token is not None:
                acks.discard(token)  # when it was not answered: a late answer finds nobody
            APPENDS.labels(result).inc()
            APPEND_DURATION.observe(time.perf_counter() - started)
        return Appended(seq=seq, duplicate=duplicate, envelope=envelope)

    async def append_all(
        self,
        events: Sequence[Event],
        meta: Metadata,
        *,
        expected_version: int,
        aggregate: str,
        event_ids: Sequence[UUID],
    ) -> list[Appended]:
        """Append a command's events in order: the first when ``aggregate``'s last sequence is
        ``expected_version``, each next one when it is the sequence of the one before, so that
        no other writer's event comes between them (ConcurrencyError otherwise). One after the
        other, each waiting for its acknowledgement: commands decide one event but rarely more.
        """
        out: list[Appended] = []
        version = expected_version
        for event, event_id in zip(events, event_ids, strict=True):
            appended = await self.append(
                event, meta, expected_version=version, aggregate=aggregate, event_id=event_id
            )
            out.append(appended)
            version = appended.seq
        return out

    async def append_many(
        self, items: Sequence[tuple[Event, Metadata, UUID]], *, within: float | None = None
    ) -> list[Appended]:
        """Append ``(event, metadata, event id)`` in this order, all in flight at once: the
        publishes go out one after the other on the connection (so the stream keeps their
        order) and the acknowledgements are awaited together, within ``within`` seconds (the
        store's timeout by default). No optimistic concurrency, so for events whose ids make
        a retry a no-op (``Nats-Msg-Id``). When it raises, some of them may be stored: append
        them all again."""
        sealed = [seal(event, meta, source=self.source, event_id=eid) for event, meta, eid in items]
        acks: Acks | None = None
        tokens: list[str] = []
        replies: list[asyncio.Future[Msg]] = []
        done: list[tuple[int, bool]] = []
        started = time.perf_counter()
        try:
            async with asyncio.timeout(within or self.timeout):
                acks = await self._acks()
                for (event, _, _), envelope in zip(items, sealed, strict=True):
                    body, headers = encode(envelope), {"Nats-Msg-Id": envelope.id}
                    token, reply = await acks.publish(_subject(event, envelope), body, headers)
                    tokens.append(token)
                    replies.append(reply)
                done = [pub_ack(msg) for msg in await asyncio.gather(*replies)]
        except (TimeoutError, NatsError) as exc:
            raise failure(exc, "store the events") from exc
        finally:
            if acks is not None:
                for token in tokens:
                    acks.discard(token)  # those not answered: a late answer finds nobody
            count_many(items, done, time.perf_counter() - started)
        return [
            Appended(seq=seq, duplicate=duplicate, envelope=envelope)
            for (seq, duplicate), envelope in zip(done, sealed, strict=True)
        ]

    async def _acks(self) -> Acks:
        """The subscription JetStream's acknowledgements come back on, made at first use
        (by one caller for all; shielded, so that a cancelled caller does not cancel it for
        the others; made again when it failed)."""
        if self._acks_ready is None:
            self._acks_ready = asyncio.ensure_future(Acks.open(self.nc, self.stream))
        ready = self._acks_ready
        try:
            return await asyncio.shield(ready)
        except Exception:
            if self._acks_ready is ready:
                self._acks_ready = None
            raise


def _subject(event: Event, envelope: Envelope) -> str:
    """``event.subject``, from the envelope's work order id, already text (not made again from
    the UUID on every append)."""
    return subject_for(event.context, envelope.subject, event.name)
