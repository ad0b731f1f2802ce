"""Reading the JetStream event log: an aggregate's events, the newest of a subject, a range,
the sequence at a point in time. :class:`fieldcrew_shared.eventstore.EventStore` adds the
appends.

- ``load`` reads every event of one aggregate (a subject filter) with batched direct gets sized
  to what is there: two round trips for up to 256 events, no consumer to create.
- Any replica of the stream answers direct gets; ``fresh`` reads confirm with the leader
  (docs/adr/0062-reads-that-confirm-with-the-leader.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from nats.aio.client import Client as NATS
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_shared.errors import BackendUnavailableError, PoisonEventError
from fieldcrew_shared.jetstream import BatchRead, Inbox, failure, rfc3339
from fieldcrew_shared.records import Loaded, RawEvent, Recorded
from fieldcrew_shared.stream import STREAM, SUBJECTS

log = logging.getLogger(__name__)

BATCH = 256
FRESH_ATTEMPTS = 8  # reads of a fresh load while the answering replica is behind (~1.8 s)


class LogReader:
    """Reads the ``FIELDCREW`` stream: direct gets, answered by any of its replicas."""

    def __init__(self, nc: NATS, *, stream: str = STREAM, timeout: float = 5.0):
        self.nc = nc
        self.js = nc.jetstream(timeout=timeout)
        self.stream = stream
        self.timeout = timeout

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
            raise failure(exc, "say which event is the newest") from exc
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
        log instead of 2 (bench/README.md). So the first request asks for one event, whose
        ``Nats-Num-Pending`` says how many follow, and the next asks from sequence 1 again
        for exactly that many (from sequence 1 the server counts from its subject index;
        from the middle of the stream it counts message by message). A short batch, or
        nothing pending after a batch, is the end.
        """
        out: list[RawEvent] = []
        start, want = 1, 1
        async with Inbox(self.nc) as inbox:  # one subscription for all of the load's requests
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
            raise failure(exc, "read the event") from exc
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
        async with Inbox(self.nc) as inbox:
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
        async with Inbox(self.nc) as inbox:
            return (await self._get(inbox, subject_filter, start, batch))[0]

    async def _get(
        self,
        inbox: Inbox,
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
            request = {"start_time": rfc3339(start_time), "batch": batch}
        if subject_filter != SUBJECTS:
            # The whole stream is read without a filter: with the wildcard, the server's work
            # per message grew with the messages left after it (100k-event log: 109 us of its
            # CPU a message from sequence 1, 40 us from 80,000, 22-27 us unfiltered), and a
            # rebuild of 1M events crawled at ~650 events/s (bench/README.md).
            request["next_by_subj"] = subject_filter
        return await self._direct(inbox, request)

    async def latest(self, subjects: Sequence[str]) -> dict[str, RawEvent]:
        """The newest event of each of ``subjects`` (no wildcards) that has one, by subject,
        in one batched direct get (``multi_last``, NATS >= 2.11)."""
        if not subjects:
            return {}
        async with Inbox(self.nc) as inbox:
            request = {"multi_last": list(subjects), "batch": len(subjects)}
            found, _ = await self._direct(inbox, request)
        return {raw.subject: raw for raw in found}

    async def _direct(
        self, inbox: Inbox, request: dict[str, object]
    ) -> tuple[list[RawEvent], int | None]:
        batch_read = inbox.current = BatchRead()
        try:
            await self.nc.publish(
                f"$JS.API.DIRECT.GET.{self.stream}",
                json.dumps(request).encode(),
                reply=inbox.subject,
            )
            return await asyncio.wait_for(batch_read.done, self.timeout)
        except (TimeoutError, NatsError) as exc:
            raise failure(exc, "answer a read") from exc


def _recorded_at(body: bytes) -> datetime | None:
    """An envelope's ``recordedat``; None when the body has none (it is not an envelope)."""
    try:
        return datetime.fromisoformat(orjson.loads(body)["recordedat"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
