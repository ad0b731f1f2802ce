"""The whole event log read back with the NATS admin user, indexed by what each event names."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
    ServerReportCompiled,
    ServerReportPart,
    WorkOrderIssued,
    join_report,
)
from fieldcrew_shared.eventstore import SUBJECTS, EventStore

READ_BATCH = 1024


@dataclass
class LogIndex:
    """How many times the log holds each thing a command or the aggregator writes."""

    last_seq: int = 0
    events: int = 0
    issued: Counter[str] = field(default_factory=Counter)  # work order
    crews: dict[str, list[str]] = field(default_factory=dict)  # work order -> leader, members
    notes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    reports: dict[str, list[LeaderReportSubmitted]] = field(
        default_factory=lambda: defaultdict(list)
    )
    photos: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # wo, sha, uploader
    # each photo's first upload (its copies are made for it): photo id -> work order, sha
    firsts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # what became of each photo's copies, by photo id: made or failed, once each
    copies: dict[str, list[PhotoRenditionsMade | PhotoRenditionFailed]] = field(
        default_factory=lambda: defaultdict(list)
    )
    compiled: dict[str, list[tuple[int, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # a report too large for one message: its parts, by work order, revision and index
    parts: dict[tuple[str, int], dict[int, list[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    poison: dict[int, str] = field(default_factory=dict)  # seq -> why it does not decode

    def duplicates(self) -> list[str]:
        """Everything the log holds more than once that must be there once at most."""
        out = [f"work order {wo} issued {n} times" for wo, n in self.issued.items() if n > 1]
        out += [f"note {note} {len(seen)} times" for note, seen in self.notes.items()
                if len(seen) > 1]  # fmt: skip
        out += [f"report of {wo} {len(seen)} times" for wo, seen in self.reports.items()
                if len(seen) > 1]  # fmt: skip
        out += [f"photo {sha[:12]} of {wo} by {who} {n} times"
                for (wo, sha, who), n in self.photos.items() if n > 1]  # fmt: skip
        out += [f"copies of photo {pid} recorded {len(seen)} times"
                for pid, seen in self.copies.items() if len(seen) > 1]  # fmt: skip
        out += [f"part {i} of revision {rev} of {wo} {len(seen)} times"
                for (wo, rev), chunks in self.parts.items() for i, seen in chunks.items()
                if len(seen) > 1]  # fmt: skip
        for wo, revisions in self.compiled.items():
            counts = Counter(rev for rev, _ in revisions)
            out += [f"revision {rev} of {wo} announced {n} times"
                    for rev, n in counts.items() if n > 1]  # fmt: skip
        return out

    def uncopied(self) -> list[str]:
        """The photos whose copies have no outcome in the log yet (made or failed)."""
        return [pid for pid in self.firsts if not self.copies.get(pid)]


async def read_log(store: EventStore, published_poison: Collection[int] = ()) -> LogIndex:
    """Every event from sequence 1 to the end, decoded (poison noted, not raised); the
    poison a scenario published itself is left out (some of it decodes)."""
    index = LogIndex(last_seq=await store.last_sequence())
    start = 1
    while start <= index.last_seq:
        batch = await store.read(SUBJECTS, start, READ_BATCH)
        if not batch:
            break
        for raw in batch:
            index.events += 1
            if raw.seq in published_poison:
                index.poison[raw.seq] = "published as poison"
                continue
            try:
                record = raw.decoded()
            except PoisonEventError as exc:
                index.poison[raw.seq] = exc.message
                continue
            _index(index, record.event)
        start = batch[-1].seq + 1
    return index


def _index(index: LogIndex, event: object) -> None:
    if isinstance(event, WorkOrderIssued):
        wo = str(event.work_order_id)
        index.issued[wo] += 1
        index.crews[wo] = [event.crew.leader, *event.crew.members]
    elif isinstance(event, MemberNoteAdded):
        index.notes[str(event.note_id)].append((str(event.work_order_id), event.author))
    elif isinstance(event, LeaderReportSubmitted):
        index.reports[str(event.work_order_id)].append(event)
    elif isinstance(event, PhotoUploaded):
        index.photos[(str(event.work_order_id), event.sha256, event.uploader)] += 1
        if not event.duplicate:
            index.firsts[str(event.photo_id)] = (str(event.work_order_id), event.sha256)
    elif isinstance(event, PhotoRenditionsMade | PhotoRenditionFailed):
        index.copies[str(event.photo_id)].append(event)
    elif isinstance(event, ServerReportPart):
        index.parts[(str(event.work_order_id), event.revision)][event.index].append(event.chunk)
    elif isinstance(event, ServerReportCompiled):
        wo = str(event.work_order_id)
        report = event.report
        if report is None:  # in the parts logged before it
            chunks = index.parts[(wo, event.revision)]
            report = join_report([chunks[i][0] for i in range(event.report_parts)])
        index.compiled[wo].append((event.revision, report))
