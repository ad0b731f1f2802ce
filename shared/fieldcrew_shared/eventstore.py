"""The JetStream event store: the one write path of every service (docs/conventions.md §6).

- ``append`` publishes one event with ``Nats-Msg-Id`` = event id (server-side de-duplication of
  retries) and, when the caller gives an expected version, with
  ``Nats-Expected-Last-Subject-Sequence`` (+ ``-Subject`` for the aggregate's wildcard) so that
  two concurrent commands on one aggregate cannot both win: the loser gets ConcurrencyError.
- ``load`` reads every event of one aggregate (a subject filter) with batched direct gets sized
  to what is there: two round trips for up to 256 events, no consumer to create.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import (
    ConnectionClosedError,
    MaxPayloadError,
    NoRespondersError,
    NoServersError,
)
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError
from nats.js.errors import NotFoundError as JsNotFoundError
from opentelemetry.trace import SpanKind

from fieldcrew_shared import stream, tracing
from fieldcrew_shared.envelope import Envelope, Metadata, encode, seal
from fieldcrew_shared.errors import (
    BackendUnavailableError,
    ConcurrencyError,
    EventLogRefusedError,
    PoisonEventError,
)
from fieldcrew_shared.events import Event, subject_for
from fieldcrew_shared.metrics import APPEND_DURATION, APPENDS
from fieldcrew_shared.natsclient import Client, server_list
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

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE = 10071
BATCH = 256
FRESH_ATTEMPTS = 8  # reads of a fresh load while the answering replica is behind (~1.8 s)


async def connect(
    url: str, name: str, *, ping_interval: float = 5.0, inbox_prefix: str | None = None
) -> NATS:
    """Connect to NATS, translating 'nobody there' into BackendUnavailableError. The client
    is :class:`fieldcrew_shared.natsclient.Client` (nats-py's, with quicker header parsing).

    A server that stops answering (hung, paused, cut off) is given up after three unanswered
    pings, every ``ping_interval`` seconds (nats-py's default: two minutes each), and the
    client reconnects, to another node of a cluster when there is one. ``url`` may list a
    cluster's nodes, separated by commas (:func:`fieldcrew_shared.natsclient.server_list`).
    A service passes its own ``inbox_prefix`` (:func:`fieldcrew_shared.natsclient.inbox_prefix`),
    the only subjects its NATS user may subscribe to."""
    nc = Client()
    servers, credentials = server_list(url)
    if inbox_prefix is not None:
        credentials["inbox_prefix"] = inbox_prefix
    try:
        await nc.connect(
            servers,
            name=name,
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # annotated int; it is slept
            ping_interval=ping_interval,  # type: ignore[arg-type]  # the same
            max_outstanding_pings=2,
            error_cb=_connection_error,
            disconnected_cb=_disconnected,
            reconnected_cb=_reconnected,
            **credentials,  # type: ignore[arg-type]  # credentials, inbox prefix: all str
        )
    except (NoServersError, OSError, NatsTimeoutError) as exc:
        raise BackendUnavailableError(f"NATS at {_redact(url)} is not reachable") from exc
    return nc


async def _connection_error(exc: Exception) -> None:
    # one line, where nats-py's default logs a traceback for every failed reconnect
    log.warning("NATS connection error", extra={"why": repr(exc)})


async def _disconnected() -> None:
    log.warning("NATS disconnected; reconnecting")


async def _reconnected() -> None:
    log.info("NATS reconnected")


def _redact(urls: str) -> str:
    redacted = []
    for url in urls.split(","):
        scheme, _, rest = url.strip().partition("://")
        redacted.append(f"{scheme}://***@{rest.split('@', 1)[1]}" if "@" in rest else url.strip())
    return ",".join(redacted)


class EventStore:
    """Appends to and reads from the ``FIELDCREW`` stream on behalf of one service."""

    def __init__(self, nc: NATS, *, source: str, stream: str = STREAM, timeout: float = 5.0):
        self.nc = nc
        self.js = nc.jetstream(timeout=timeout)
        self.source = source
        self.stream = stream
        self.timeout = timeout
        self._acks_ready: asyncio.Future[_Acks] | None = None

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
        acks: _Acks | None = None
        token = None
        result = "failed"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                acks = await self._acks()
                token, reply = await acks.publish(subject, encode(envelope), headers)
                seq, duplicate = _pub_ack(await reply)
            result = "duplicate" if duplicate else "stored"
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                result = "conflict"
                raise ConcurrencyError(f"{aggregate or subject} changed") from exc
            raise _failure(exc, "store the event") from exc
        except (TimeoutError, NatsError) as exc:
            raise _failure(exc, "store the event") from exc
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
        acks: _Acks | None = None
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
                done = [_pub_ack(msg) for msg in await asyncio.gather(*replies)]
        except (TimeoutError, NatsError) as exc:
            raise _failure(exc, "store the events") from exc
        finally:
            if acks is not None:
                for token in tokens:
                    acks.discard(token)  # those not answered: a late answer finds nobody
            _count_many(items, done, time.perf_counter() - started)
        return [
            Appended(seq=seq, duplicate=duplicate, envelope=envelope)
            for (seq, duplicate), envelope in zip(done, sealed, strict=True)
        ]

    async def _acks(self) -> _Acks:
        """The subscription JetStream's acknowledgements come back on, made at first use
        (by one caller for all; shielded, so that a cancelled caller does not cancel it for
        the others; made again when it failed)."""
        if self._acks_ready is None:
            self._acks_ready = asyncio.ensure_future(_Acks.open(self.nc, self.stream))
        ready = self._acks_ready
        try:
            return await asyncio.shield(ready)
        except Exception:
            if self._acks_ready is ready:
                self._acks_ready = None
            raise

    async def load(self, subject_filter: str, *, fresh: bool = False) -> Loaded:
        """Every event whose subject matches ``subject_filter``, in stream order.

        Any replica of the stream answers direct gets, also a follower that has not applied
        the newest events yet (docs/adr/0062-reads-that-confirm-with-the-leader.md).
        ``fresh``: at least up to the newest matching event the stream's leader has
        (:meth:`newest_on`), read again while the replica that answered was behind it."""
        at_least = await self.newest_on(subject_filter) if fresh else 0
        for attempt in range(FRESH_ATTEMPTS):
            loaded = await self._load(subject_filter)
            if loaded.version >= at_least:
                return loaded
            await asyncio.sleep(0.05 * (attempt + 1))
        raise BackendUnavailableError(f"the log's replicas are behind its leader at {at_least}")

    async def newest_on(self, subject_filter: str) -> int:
        """The sequence of the newest event matching ``subject_filter`` as the stream's leader
        has it (0: none). Only the leader answers this request (``STREAM.MSG.GET``), one
        event at a time, so the data itself is read with direct gets."""
        try:
            raw = await self.js._jsm.get_last_msg(self.stream, subject_filter)
        except JsNotFoundError:
            return 0
        except (TimeoutError, NatsError) as exc:
            raise _failure(exc, "say which event is the newest") from exc
        return int(raw.seq or 0)

    async def _load(self, subject_filter: str) -> Loaded:
        records: list[Recorded] = []
        version = 0
        for raw in await self._read_all(subject_filter):
            version = raw.seq
            try:
                records.append(raw.decoded())
            except PoisonEventError as exc:
                log.error(
                    "skipping undecodable or misplaced event",
                    extra={"seq": raw.seq, "reason": str(exc)},
                )
        return Loaded(records=records, version=version)

    async def _read_all(self, subject_filter: str) -> list[RawEvent]:
        """Every raw event matching ``subject_filter``, asking for exactly as many as there are.

        A batch larger than what is left makes the server search on for a next match, and
        with a wildcard filter on a stream of 64k subjects or more that search walks every
        block to the end of the stream: an old work order took 27 ms to load on a 1M-event
        log instead of 2 (bench/, issue 4). So the first request asks for one event, whose
        ``Nats-Num-Pending`` says how many follow, and the next asks from sequence 1 again
        for exactly that many (from sequence 1 the server counts from its subject index;
        from the middle of the stream it counts message by message). A short batch, or
        nothing pending after a batch, is the end.
        """
        out: list[RawEvent] = []
        start, want = 1, 1
        async with _Inbox(self.nc) as inbox:  # one subscription for all of the load's requests
            while True:
                got, pending = await self._get(inbox, subject_filter, start, want)
                out += [r for r in got if not out or r.seq > out[-1].seq]
                if len(got) < want or pending == 0:
                    return out
                if pending is None:  # a server that does not say: read on as before
                    pending = BATCH
                if start == 1 and len(out) + pending <= BATCH:
                    want = len(out) + pending
                else:
                    start, want = out[-1].seq + 1, min(pending, BATCH)

    async def last(self, subject: str) -> Recorded | None:
        """The newest event on ``subject`` (wildcards allowed) that decodes and sits on its
        producer's subjects, or None. A poison message there is skipped as :meth:`load`
        skips it: one bad message must not make a work order unusable."""
        try:
            raw = await self.js._jsm.get_last_msg(self.stream, subject, direct=True)
        except JsNotFoundError:
            # a replica behind the leader says "none" too: only the log as of now may
            records = (await self.load(subject, fresh=True)).records
            return records[-1] if records else None
        except (TimeoutError, NatsError) as exc:
            raise _failure(exc, "read the event") from exc
        assert raw.data is not None and raw.seq is not None and raw.subject is not None
        try:
            return RawEvent(raw.seq, raw.subject, raw.data).decoded()
        except PoisonEventError as exc:
            log.error(
                "skipping undecodable or misplaced event",
                extra={"seq": raw.seq, "reason": str(exc)},
            )
        records = (await self.load(subject)).records  # the rare case: read the whole subject
        return records[-1] if records else None

    async def last_sequence(self) -> int:
        """The stream's last sequence number (0 when empty)."""
        try:
            info = await self.js.stream_info(self.stream)
        except JsNotFoundError as exc:
            raise BackendUnavailableError(f"stream {self.stream} does not exist") from exc
        except (NatsTimeoutError, NoRespondersError, ConnectionClosedError) as exc:
            raise BackendUnavailableError("JetStream is not answering") from exc
        return int(info.state.last_seq)

    async def first_stored_at(self, when: datetime) -> int | None:
        """The sequence of the first event the log stored at or after ``when`` (JetStream's
        own clock), or None when every event is older."""
        async with _Inbox(self.nc) as inbox:
            got, _ = await self._get(inbox, SUBJECTS, 0, 1, start_time=when)
        return got[0].seq if got else None

    async def first_recorded_at(self, when: datetime) -> int | None:
        """The sequence of the first event, in log order, recorded (``recordedat``) at or
        after ``when``: the log before it is what had been recorded by then. None when there
        is none yet. Found where JetStream stored ``when`` (an event is stored after it is
        recorded), then read on over the few events that were in flight at ``when``."""
        start = await self.first_stored_at(when)
        while start is not None:
            batch = await self.read(SUBJECTS, start, 64)
            for raw in batch:
                recorded = _recorded_at(raw.body)
                if recorded is None or recorded >= when:
                    return raw.seq
            start = batch[-1].seq + 1 if batch else None
        return None

    async def last_recorded_by(self, when: datetime) -> int:
        """The sequence that ends the log as it stood at ``when``: every event before the
        first recorded after it (0: none)."""
        try:
            later = when + timedelta(microseconds=1)
        except OverflowError:  # the end of time: everything was recorded by then
            return await self.last_sequence()
        after = await self.first_recorded_at(later)
        return (after if after is not None else await self.last_sequence() + 1) - 1

    async def read(self, subject_filter: str, start: int, batch: int = BATCH) -> list[RawEvent]:
        """Up to ``batch`` raw events matching ``subject_filter`` from sequence ``start`` on, in
        one batched direct get (NATS >= 2.11)."""
        async with _Inbox(self.nc) as inbox:
            return (await self._get(inbox, subject_filter, start, batch))[0]

    async def _get(
        self,
        inbox: _Inbox,
        subject_filter: str,
        start: int,
        batch: int,
        start_time: datetime | None = None,
    ) -> tuple[list[RawEvent], int | None]:
        """One batched direct get: up to ``batch`` events from ``start`` (or from the first
        stored at ``start_time``) on, and how many more match after them
        (``Nats-Num-Pending``; None when the server does not say). The messages arrive on
        ``inbox`` until the end-of-batch message."""
        request: dict[str, object] = {"seq": start, "batch": batch}
        if start_time is not None:
            request = {"start_time": _rfc3339(start_time), "batch": batch}
        if subject_filter != SUBJECTS:
            # The whole stream is read without a filter: with the wildcard, the server's work
            # per message grew with the messages left after it (100k-event log: 109 us of its
            # CPU a message from sequence 1, 40 us from 80,000, 22-27 us unfiltered), and a
            # rebuild of 1M events crawled at ~650 events/s (bench/, issue 4).
            request["next_by_subj"] = subject_filter
        return await self._direct(inbox, request)

    async def latest(self, subjects: Sequence[str]) -> dict[str, RawEvent]:
        """The newest event of each of ``subjects`` (no wildcards) that has one, by subject,
        in one batched direct get (``multi_last``, NATS >= 2.11)."""
        if not subjects:
            return {}
        async with _Inbox(self.nc) as inbox:
            request = {"multi_last": list(subjects), "batch": len(subjects)}
            found, _ = await self._direct(inbox, request)
        return {raw.subject: raw for raw in found}

    async def _direct(
        self, inbox: _Inbox, request: dict[str, object]
    ) -> tuple[list[RawEvent], int | None]:
        batch_read = inbox.current = _BatchRead()
        try:
            await self.nc.publish(
                f"$JS.API.DIRECT.GET.{self.stream}",
                json.dumps(request).encode(),
                reply=inbox.subject,
            )
            return await asyncio.wait_for(batch_read.done, self.timeout)
        except (TimeoutError, NatsError) as exc:
            raise _failure(exc, "answer a read") from exc


class _Acks:
    """Publishes to the stream whose acknowledgements come back on one wildcard
    subscription, each to a future of its own (``<inbox>.<n>``).

    nats-py's ``js.publish`` makes a request per append (a random token, ``asyncio.wait_for``)
    and its ``publish_async`` loses JetStream's error answers (2.16: ``APIError.from_error``
    raises inside its reply handler, so a concurrency conflict became a timeout). 64 appends
    in flight: 0.76 -> 0.84x of raw ``publish_async`` (bench/, issue 4; ADR 0018)."""

    def __init__(self, nc: NATS, stream: str, prefix: str) -> None:
        self.nc, self.stream, self.prefix = nc, stream, prefix
        self.waiting: dict[str, asyncio.Future[Msg]] = {}
        self.count = itertools.count()

    @classmethod
    async def open(cls, nc: NATS, stream: str) -> _Acks:
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


def _failure(exc: Exception, what: str) -> BackendUnavailableError:
    """A failure of NATS as fieldcrew's error: JetStream's own error answers (no stream, a
    full store, a message too large) say so with its code, anything else is unavailability."""
    if isinstance(exc, APIError):
        why = f"{exc.description or 'error'} (JetStream error {exc.err_code or exc.code})"
        return EventLogRefusedError(f"JetStream refused to {what}: {why}")
    if isinstance(exc, MaxPayloadError):
        return EventLogRefusedError(f"could not {what}: larger than NATS's max_payload")
    return BackendUnavailableError(f"JetStream did not {what} ({type(exc).__name__})")


def _recorded_at(body: bytes) -> datetime | None:
    """An envelope's ``recordedat``; None when the body has none (it is not an envelope)."""
    try:
        return datetime.fromisoformat(orjson.loads(body)["recordedat"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _rfc3339(when: datetime) -> str:
    """``when`` in UTC as the server parses it (RFC 3339, nanoseconds)."""
    if when.tzinfo is None:
        raise ValueError("a time without its UTC offset")
    u = when.astimezone(UTC)
    date = f"{u.year:04d}-{u.month:02d}-{u.day:02d}"
    return f"{date}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond * 1000:09d}Z"


def _subject(event: Event, envelope: Envelope) -> str:
    """``event.subject``, from the envelope's work order id, already text (not made again from
    the UUID on every append)."""
    return subject_for(event.context, envelope.subject, event.name)


def _pub_ack(msg: Msg) -> tuple[int, bool]:
    """The sequence JetStream stored a publish at, and whether it was a duplicate; its error
    answer raised as nats-py's ``APIError`` (``NoRespondersError`` when no stream takes the
    subject). Read with orjson, not ``PubAck.from_response`` (13 -> 1.5 us; issue 4)."""
    if msg.headers and msg.headers.get("Status") == "503":
        raise NoRespondersError
    answer = orjson.loads(msg.data)
    if "error" in answer:
        APIError.from_error(answer["error"])  # raises the error's class
    return int(answer["seq"]), bool(answer.get("duplicate", False))


class _Inbox:
    """A reply subscription for a run of direct gets, one after the other: each request's
    messages end with its end-of-batch message before the next request is sent."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.subject = nc.new_inbox()
        self.current: _BatchRead | None = None
        self.sub: Subscription | None = None

    async def __aenter__(self) -> _Inbox:
        try:
            self.sub = await self.nc.subscribe(self.subject, cb=self._on_msg)
        except NatsError as exc:
            raise _failure(exc, "answer a read") from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.sub is not None:
            with suppress(NatsError):  # a closed connection has no subscription left
                await self.sub.unsubscribe()
        # The subscription's callback refers back to this inbox: without these the events
        # read would live on in that reference cycle until the cyclic collector ran (in a
        # rebuild, ~1 KB of garbage for every event read; issue 4).
        self.sub = self.current = None

    async def _on_msg(self, msg: Msg) -> None:
        if self.current is not None:
            await self.current.on_msg(msg)


class _BatchRead:
    """Collects one batched direct get's messages as the subscription hands them over (no
    queue of our own between: a hop per message was ~10% of a rebuild's reading, issue 4)."""

    def __init__(self) -> None:
        self.out: list[RawEvent] = []
        self.pending: str | None = None
        self.done: asyncio.Future[tuple[list[RawEvent], int | None]] = (
            asyncio.get_running_loop().create_future()
        )

    async def on_msg(self, msg: Msg) -> None:
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


def _count_many(items: Sequence[object], done: list[tuple[int, bool]], seconds: float) -> None:
    """Metrics of one ``append_many``: each event stored or dropped as a duplicate, or, when
    the round failed, each as failed; the round's time once."""
    if len(done) == len(items):
        duplicates = sum(1 for _, duplicate in done if duplicate)
        APPENDS.labels("stored").inc(len(done) - duplicates)
        APPENDS.labels("duplicate").inc(duplicates)
    else:
        APPENDS.labels("failed").inc(len(items))
    APPEND_DURATION.observe(seconds)
