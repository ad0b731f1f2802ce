"""Server reports as they stood at any moment: folded again from the log up to that point.

A moment is a stream sequence (the log up to and including it) or an RFC 3339 time (the log
as it stood then: every event before the first one recorded after it). The work order's
events up to there are folded by the domain's own fold, in log order as the projection folds
them, so the report and its revision number are exactly those the projection had compiled
by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from fieldcrew_shared.errors import InvalidCommandError
from fieldcrew_shared.events import CrewChanged, WorkOrderIssued
from fieldcrew_shared.eventstore import EventStore, Recorded
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from fieldcrew_aggregator.domain import Progress, fold_history
from fieldcrew_aggregator.projection import check_storable

_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


@dataclass(frozen=True)
class Moment:
    """A point in the log: a stream sequence, or a time; neither: now."""

    sequence: int | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Moment:
        """``"1234"`` (a sequence) or an RFC 3339 time with its offset; InvalidCommandError
        for anything else."""
        text = text.strip()
        if text.isdecimal():
            return cls(sequence=int(text))
        try:
            return cls(time=_TIME.validate_python(text).astimezone(UTC))
        except (ValidationError, OverflowError) as exc:
            raise InvalidCommandError(
                "as_of is a stream sequence (e.g. 1234) or an RFC 3339 time with its offset"
                " (e.g. 2026-11-02T08:00:00Z)",
                code="invalid_as_of",
            ) from exc

    async def last_sequence(self, store: EventStore) -> int:
        """The last sequence of the log as it stood at this moment."""
        if self.time is not None:
            return await store.last_recorded_by(self.time)
        if self.sequence is not None:
            return self.sequence
        return await store.last_sequence()


async def progress_as_of(store: EventStore, work_order_id: UUID, moment: Moment) -> Progress:
    """The work order's progress folded from its events up to ``moment``."""
    last = await moment.last_sequence(store)
    loaded = await store.load(f"fieldcrew.*.{work_order_id}.>")
    history = [(r.event, r.envelope.recorded_at) for r in loaded.records if _folded(r, last)]
    return fold_history(str(work_order_id), history)


def _folded(record: Recorded, last: int) -> bool:
    """Whether the projection had folded ``record`` by sequence ``last`` (it dead-letters
    what it cannot store)."""
    if record.seq > last:
        return False
    if isinstance(record.event, WorkOrderIssued | CrewChanged):
        try:
            check_storable(record.event)
        except ValueError:
            return False
    return True
