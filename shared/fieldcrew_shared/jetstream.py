"""The low-level exchanges with JetStream the event store is made of.

- :class:`Acks`: appends in flight, their acknowledgements back on one wildcard subscription.
- :class:`Inbox` and :class:`BatchRead`: batched direct gets (NATS >= 2.11), their messages
  collected as the subscription hands them over.
- :func:`pub_ack`, :func:`failure`, :func:`rfc3339`, :func:`count_many`: what JetStream answers,
  as fieldcrew's results, errors and metrics.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError, NoRespondersError
from nats.js.errors import APIError

from fieldcrew_shared.errors import BackendUnavailableError, EventLogRefusedError
from fieldcrew_shared.metrics import APPEND_DURATION, APPENDS
from fieldcrew_shared.records import RawEvent


class Acks:
    """Publishes to the stream whose acknowledgements come back on one wildcard
    subscription, each to a future of its own (``<inbox>.<n>``).

    nats-py's ``js.publish`` makes a request per append (a random token, ``asyncio.wait_for``)
    and its ``publish_async`` loses JetStream's error answers (2.16: ``APIError.from_error``
    raises inside its reply handler, so a concurrency conflict became a timeout). 64 appends
    in flight: 0.76 -> 0.84x of raw ``publish_async`` (bench/README.md; ADR 0018)."""

    def __init__(self, nc: NATS, stream: str, prefix: str) -> None:
        self.nc, self.stream, self.prefix = nc, stream, prefix
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        self.count = itertools.count()

    @classmethod
    async def open(cls, nc: NATS, stream: str) -> Acks:
        """Subscribed for the acknowledgements of appends to ``stream``."""
        acks = cls(nc, stream, nc.new_inbox() + ".")
        await nc.subscribe(acks.prefix + "*", cb=acks._on_reply)
        return acks

    async def publish(
        self, subject: str, body: bytes, headers: dict[str, str]
    ) -> tuple[str, asyncio.Future[Msg]]:
        """Publish ``body`` for the stream; a token and the future of its acknowledgement (a
        message). The caller discards the token once it stops waiting, answered or not."""
        token = str(next(self.count))
        reply: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self.waiting[token] = reply
        headers["Nats-Expected-Stream"] = self.stream
        try:
            await self.nc.publish(subject, body, reply=self.prefix + token, headers=headers)
        except BaseException:
            self.discard(token)
            raise
        return token, reply

    def discard(self, token: str) -> None:
        """Stop waiting for ``token``'s acknowledgement (nothing to do once it came)."""
        reply = self.waiting.pop(token, None)
        if reply is not None:
            reply.cancel()

    async def _on_reply(self, msg: Msg) -> None:
        reply = self.waiting.pop(msg.subject[len(self.prefix) :], None)
        if reply is not None and not reply.done():
            reply.set_result(msg)


def failure(exc: Exception, what: str) -> BackendUnavailableError:
    """A failure of NATS as fieldcrew's error: JetStream's own error answers (no stream, a
    full store, a message too large) say so with its code, anything else is unavailability."""
    if isinstance(exc, APIError):
        why = f"{exc.description or 'error'} (JetStream error {exc.err_code or exc.code})"
        return EventLogRefusedError(f"JetStream refused to {what}: {why}")
    if isinstance(exc, MaxPayloadError):
        return EventLogRefusedError(f"could not {what}: larger than NATS's max_payload")
    return BackendUnavailableError(f"JetStream did not {what} ({type(exc).__name__})")


def rfc3339(when: datetime) -> str:
    """``when`` in UTC as the server parses it (RFC 3339, nanoseconds)."""
    if when.tzinfo is None:
        raise ValueError("a time without its UTC offset")
    u = when.astimezone(UTC)
    date = f"{u.year:04d}-{u.month:02d}-{u.day:02d}"
    return f"{date}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond * 1000:09d}Z"


def pub_ack(msg: Msg) -> tuple[int, bool]:
    """The sequence JetStream stored a publish at, and whether it was a duplicate; its error
    answer raised as nats-py's ``APIError`` (``NoRespondersError`` when no stream takes the
    subject). Read with orjson, not ``PubAck.from_response`` (13 -> 1.5 us; bench/README.md)."""
    if msg.headers and msg.headers.get("Status") == "503":
        raise NoRespondersError
    answer = orjson.loads(msg.data)
    if "error" in answer:
        APIError.from_error(answer["error"])  # raises the error's class
    return int(answer["seq"]), bool(answer.get("duplicate", False))


class Inbox:
    """A reply subscription for a run of direct gets, one after the other: each request's
    messages end with its end-of-batch message before the next request is sent."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.subject = nc.new_inbox()
        self.current: BatchRead | None = None
        self.sub: Subscription | None = None

    async def __aenter__(self) -> Inbox:
        try:
            self.sub = await self.nc.subscribe(self.subject, cb=self._on_msg)
        except NatsError as exc:
            raise failure(exc, "answer a read") from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.sub is not None:
            with suppress(NatsError):  # a closed connection has no subscription left
                await self.sub.unsubscribe()
        # The subscription's callback refers back to this inbox: without these the events
        # read would live on in that reference cycle until the cyclic collector ran (in a
        # rebuild, ~1 KB of garbage for every event read; bench/README.md).
        self.sub = self.current = None

    async def _on_msg(self, msg: Msg) -> None:
        if self.current is not None:
            await self.current.on_msg(msg)


class BatchRead:
    """Collects one batched direct get's messages as the subscription hands them over (no
    queue of our own between: a hop per message was ~10% of a rebuild's reading,
    bench/README.md)."""

    def __init__(self) -> None:
        self.out: list[RawEvent] = []
        self.pending: str | None = None
        self.done: asyncio.Future[tuple[list[RawEvent], int | None]] = (
            asyncio.get_running_loop().create_future()
        )

    async def on_msg(self, msg: Msg) -> None:
        """Take one message of the batch: an event, or the status that ends the batch."""
        if self.done.done():
            return
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self.pending = headers.get("Nats-Num-Pending")
            self.out.append(
                RawEvent(int(headers["Nats-Sequence"]), headers["Nats-Subject"], msg.data)
            )
        elif status == "404":  # nothing (more)
            self.done.set_result((self.out, 0))
        elif status == "204":  # end of batch
            pending = headers.get("Nats-Num-Pending", self.pending)
            self.done.set_result((self.out, int(pending) if pending is not None else None))
        else:
            error = BackendUnavailableError(f"direct get failed: {status} {headers}")
            self.done.set_exception(error)


def count_many(items: Sequence[object], done: list[tuple[int, bool]], seconds: float) -> None:
    """Metrics of one ``append_many``: each event stored or dropped as a duplicate, or, when
    the round failed, each as failed; the round's time once."""
    if len(done) == len(items):
        duplicates = sum(1 for _, duplicate in done if duplicate)
        APPENDS.labels("stored").inc(len(done) - duplicates)
        APPENDS.labels("duplicate").inc(duplicates)
    else:
        APPENDS.labels("failed").inc(len(items))
    APPEND_DURATION.observe(seconds)
