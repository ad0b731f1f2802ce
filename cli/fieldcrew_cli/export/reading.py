"""Reading a range of the log in order, in batches, for an export.

An ordered push consumer (the server sends the stream in order, flow-controlled, and nats-py
starts it again after a gap), as the raw read it is measured against does, rather than
batched direct gets: a direct get's answer carries a header block of six lines per message
(stream, subject, sequence, time, pending, last sequence) that the client parses in Python;
a pushed message carries only its own headers, its sequence being in the reply subject
(docs/adr/0065-export-reads-an-ordered-consumer.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.eventstore import SUBJECTS, EventStore, RawEvent
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, DeliverPolicy

# events handed on at a time: the worker thread that converts a batch waits for the GIL after
# each of its Arrow calls, so the fewer batches the less it waits (docs/adr/0066-*.md)
BATCH = 32_768
IDLE = 30.0  # seconds without a batch before the read is given up
AHEAD = 2  # batches read ahead of the one being converted (then flow control holds the rest)


class _Range:
    """Collects pushed messages from ``first`` to ``last`` into batches on ``ready``."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.batch: list[RawEvent] = []
        self.ready: asyncio.Queue[list[RawEvent] | None] = asyncio.Queue(AHEAD)
        self.done = False

    async def on_msg(self, msg: Msg) -> None:
        if self.done:
            return
        seq, pending = _position(msg)
        if seq <= self.last:
            self.batch.append(RawEvent(seq, msg.subject, msg.data))
        # the range's end, or the stream's end when the last one is gone
        self.done = seq >= self.last or pending == 0
        if self.done or len(self.batch) >= BATCH:
            batch, self.batch = self.batch, []
            await self.ready.put(batch)
            if self.done:
                await self.ready.put(None)


def _position(msg: Msg) -> tuple[int, int]:
    """A pushed message's stream sequence and how many messages follow it. The reply subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``
    split once (``msg.metadata`` also builds objects and a datetime we have no use for); any
    other form (with a JetStream domain) through ``msg.metadata``."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending


async def read_range(
    store: EventStore, first: int, last: int, *, idle: float = IDLE
) -> AsyncIterator[list[RawEvent]]:
    """Batches of the stored events from ``first`` to ``last`` (of up to ``BATCH``), in order.
    BackendUnavailableError when no batch arrives for ``idle`` seconds or the consumer cannot
    be made."""
    reading = _Range(last)
    config = ConsumerConfig(opt_start_seq=first)
    try:
        # unbounded client buffers, as flow control bounds what the server sends ahead
        sub = await store.nc.jetstream(timeout=store.timeout).subscribe(
            SUBJECTS, stream=store.stream, cb=reading.on_msg, ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, config=config,
            pending_msgs_limit=0, pending_bytes_limit=0,
        )  # fmt: skip
    except (NatsError, TimeoutError) as exc:
        raise BackendUnavailableError(f"the log cannot be read: {exc!r}") from exc
    try:
        while True:
            try:
                batch = await asyncio.wait_for(reading.ready.get(), idle)
            except TimeoutError as exc:
                raise BackendUnavailableError("the log stopped sending events") from exc
            if batch is None:
                return
            if batch:
                yield batch
    finally:
        reading.done = True
        with suppress(NatsError):  # the connection is gone: so is the ephemeral consumer
            await sub.unsubscribe()
