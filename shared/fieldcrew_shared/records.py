"""Events as the log holds them: raw, decoded with their stream sequence, one aggregate's
history, an append's answer. No I/O here, so that pure domain modules may fold ``Recorded``
histories (their times are in the envelope) without importing a NATS client."""

from __future__ import annotations

from dataclasses import dataclass

from fieldcrew_shared.envelope import Envelope, check_origin, decode_event
from fieldcrew_shared.events import Event


@dataclass(frozen=True)
class RawEvent:
    """A stored message before decoding."""

    seq: int
    subject: str
    body: bytes

    def decoded(self) -> Recorded:
        """The event it holds; PoisonEventError when it is not a fieldcrew event written on
        its own context's subjects."""
        envelope, event = decode_event(self.body)
        check_origin(envelope, self.subject)
        return Recorded(self.seq, envelope, event, self.body)


@dataclass(frozen=True)
class Recorded:
    """An event as stored: its stream sequence, its envelope and its decoded payload."""

    seq: int
    envelope: Envelope
    event: Event
    body: bytes = b""  # as stored (when read from the log): what a webhook is sent


@dataclass(frozen=True)
class Loaded:
    """One aggregate's history and the sequence to expect when appending to it."""

    records: list[Recorded]
    version: int  # stream sequence of the aggregate's last event, 0 when it has none

    @property
    def events(self) -> list[Event]:
        return [r.event for r in self.records]


@dataclass(frozen=True)
class Appended:
    """What JetStream answered to a publish: the sequence it stored the event at, whether it
    was a repeat of an event id it had (and so not stored again), and the envelope sent."""

    seq: int
    duplicate: bool
    envelope: Envelope
