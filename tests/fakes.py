"""Our own in-memory event log, for handler tests (as cosmicpython's ``FakeUnitOfWork``): no
NATS, but the two guarantees of JetStream the command pipeline relies on, kept the same way.

- An append under an expected version fails with ``ConcurrencyError`` unless the last event
  matching the aggregate's subject filter is at that sequence
  (``Nats-Expected-Last-Subject-Sequence`` with ``-Subject``).
- An event id seen before is not stored again: the append answers ``duplicate`` with the
  first one's sequence (``Nats-Msg-Id``).

``interleave`` plays a concurrent writer: its events are appended just before the next append
(the race a load-decide-append can lose).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from fieldcrew_shared.envelope import Metadata, check_origin, seal
from fieldcrew_shared.errors import ConcurrencyError
from fieldcrew_shared.events import Event, work_order_subjects
from fieldcrew_shared.records import Appended, Loaded, Recorded

OTHER_WRITER = Metadata(actor="someone-else", actorrole="technician", correlationid="race")


def matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or token not in ("*", tokens[i]):
            return False
    return len(tokens) == len(wanted)


@dataclass
class FakeEventLog:
    """Implements :class:`fieldcrew_shared.commands.EventLog` (and what queries read) in
    memory. Each event is sealed as its own context's service would (``fieldcrew/<context>``)."""

    records: list[tuple[str, Recorded]] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    pending_race: list[tuple[Event, UUID | None]] = field(default_factory=list)
    appends: int = 0
    conflicts: int = 0

    async def load(self, subject_filter: str, *, fresh: bool = False) -> Loaded:
        """In memory, every read is as of the last event (``fresh`` or not)."""
        return self._loaded(subject_filter)

    def _loaded(self, subject_filter: str) -> Loaded:
        found = [r for subject, r in self.records if matches(subject, subject_filter)]
        return Loaded(records=found, version=found[-1].seq if found else 0)

    async def last(self, subject: str) -> Recorded | None:
        found = (await self.load(subject)).records
        return found[-1] if found else None

    async def append(
        self,
        event: Event,
        meta: Metadata,
        *,
        expected_version: int | None = None,
        aggregate: str | None = None,
        event_id: UUID | None = None,
    ) -> Appended:
        self.appends += 1
        self._race()
        envelope = seal(event, meta, source=f"fieldcrew/{event.context}", event_id=event_id)
        if envelope.id in self.ids:
            seq = self.ids[envelope.id]
            return Appended(seq=seq, duplicate=True, envelope=envelope)
        if expected_version is not None:
            current = self._loaded(aggregate or event.subject).version  # the leader's
            if current != expected_version:
                self.conflicts += 1
                raise ConcurrencyError(f"{aggregate} is at {current}, not {expected_version}")
        check_origin(envelope, event.subject)
        seq = len(self.records) + 1
        self.records.append((event.subject, Recorded(seq, envelope, event)))
        self.ids[envelope.id] = seq
        return Appended(seq=seq, duplicate=False, envelope=envelope)

    async def append_all(
        self,
        events: Sequence[Event],
        meta: Metadata,
        *,
        expected_version: int,
        aggregate: str,
        event_ids: Sequence[UUID],
    ) -> list[Appended]:
        out: list[Appended] = []
        version = expected_version
        for event, event_id in zip(events, event_ids, strict=True):
            appended = await self.append(
                event, meta, expected_version=version, aggregate=aggregate, event_id=event_id
            )
            out.append(appended)
            version = appended.seq
        return out

    def interleave(self, *events: Event, event_id: UUID | None = None) -> None:
        """Another writer appends ``events`` just before the next append (the first with
        ``event_id``, to play another attempt of the same command)."""
        self.pending_race += [(e, event_id if i == 0 else None) for i, e in enumerate(events)]

    def _race(self) -> None:
        racing, self.pending_race = self.pending_race, []
        for event, event_id in racing:
            envelope = seal(
                event, OTHER_WRITER, source=f"fieldcrew/{event.context}", event_id=event_id
            )
            seq = len(self.records) + 1
            self.records.append((event.subject, Recorded(seq, envelope, event)))
            self.ids[envelope.id] = seq

    async def history(self, work_order_id: UUID) -> list[Recorded]:
        """One work order's whole history."""
        return (await self.load(work_order_subjects(work_order_id))).records

    @property
    def events(self) -> list[Event]:
        """Everything stored, in order."""
        return [r.event for _, r in self.records]
