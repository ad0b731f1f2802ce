"""Live events: what the log holds from a sequence on, then each new event as it is recorded,
in log order, without gaps or repeats (docs/design.md §13, ADR 0037).

One :class:`LogTail` per process reads the end of the log while anyone listens (one batched
direct get every ``poll`` seconds, the whole stream unfiltered: the cheapest read) and hands
each new event to every listener whose subject filter it matches. A listener first reads what
it missed from the log itself (``follow(start)``), then takes the tail's events after that, so
the hand-over loses and repeats nothing. A listener that falls too far behind is dropped
(:class:`ListenerTooSlowError`): its client reconnects with the last sequence it got.

No consumer is created on the server: a service's NATS user may only read the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fieldcrew_shared.errors import BackendUnavailableError, FieldcrewError, PoisonEventError
from fieldcrew_shared.eventstore import SUBJECTS, EventStore
from fieldcrew_shared.records import Recorded

log = logging.getLogger(__name__)

BATCH = 256
BACKLOG = 1024  # events a listener may have waiting before it is dropped


class ListenerTooSlowError(FieldcrewError):
    """A listener did not take its events fast enough; it reconnects and catches up."""

    code = "too_slow"
    status = 503


def matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(wanted)


@dataclass(eq=False)
class _Listener:
    subjects: str
    queue: asyncio.Queue[Recorded | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=BACKLOG)
    )


class LogTail:
    """Follows the end of the log for the listeners of one process."""

    def __init__(self, store: EventStore, poll: float = 0.2) -> None:
        self.store, self.poll = store, poll
        self.position = 0  # the last sequence handed to listeners
        self._listeners: set[_Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def follow(self, subjects: str, start: int | None) -> AsyncIterator[Recorded]:
        """Every event matching ``subjects`` after sequence ``start`` (None: from now on), in
        log order, then each new one as it is recorded, until the caller stops iterating."""
        listener = _Listener(subjects)
        self._listeners.add(listener)
        try:
            await self._running()
            caught_up = self.position
            last = caught_up if start is None else start
            async for record in self._backlog(subjects, last, caught_up):
                last = record.seq
                yield record
            while True:
                new = await listener.queue.get()
                if new is None:
                    raise ListenerTooSlowError("the listener fell behind; reconnect")
                if new.seq > last:
                    last = new.seq
                    yield new
        finally:
            self._listeners.discard(listener)

    async def _backlog(self, subjects: str, start: int, end: int) -> AsyncIterator[Recorded]:
        """What the log holds for ``subjects`` after ``start`` up to ``end``, read in batches."""
        position = start
        while position < end:
            batch = await self.store.read(subjects, position + 1, BATCH)
            for raw in batch:
                if raw.seq > end:
                    return
                position = raw.seq
                with contextlib.suppress(PoisonEventError):
                    yield raw.decoded()
            if len(batch) < BATCH:
                return

    async def _running(self) -> None:
        if self._task is None or self._task.done():
            self._started = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="log-tail")
        await self._started.wait()

    async def _run(self) -> None:
        try:
            self.position = await self.store.last_sequence()
        finally:
            self._started.set()
        while self._listeners:
            try:
                got = await self._step()
            except BackendUnavailableError as exc:  # NATS away: listeners wait, then go on
                log.warning("log tail paused", extra={"why": exc.message})
                got = 0
            if got < BATCH:
                await asyncio.sleep(self.poll)
        self._task = None

    async def _step(self) -> int:
        batch = await self.store.read(SUBJECTS, self.position + 1, BATCH)
        for raw in batch:
            self.position = raw.seq
            try:
                record = raw.decoded()
            except PoisonEventError:
                continue
            for listener in list(self._listeners):
                if matches(raw.subject, listener.subjects):
                    self._hand(listener, record)
        return len(batch)

    def _hand(self, listener: _Listener, record: Recorded) -> None:
        try:
            listener.queue.put_nowait(record)
        except asyncio.QueueFull:
            self._listeners.discard(listener)
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.get_nowait()
                listener.queue.put_nowait(None)  # tells it that it was dropped

    async def started(self) -> None:
        """Return once the tail follows the log: events recorded from then on are "new"."""
        await self._started.wait()

    async def close(self) -> None:
        """Stop following (at shutdown)."""
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
