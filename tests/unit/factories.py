"""Events and envelopes for pure unit tests (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from fieldcrew_shared.envelope import Metadata, seal
from fieldcrew_shared.events import (
    Crew,
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    PhotoUploaded,
    WorkOrderIssued,
)
from fieldcrew_shared.records import Recorded

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def recorded(event: Event, minutes: int = 0, seq: int = 1, actor: str = "someone") -> Recorded:
    """``event`` as the log holds it: recorded (and done) ``minutes`` after T0."""
    meta = Metadata(actor=actor, actorrole="technician", correlationid="c", occurred_at=at(minutes))
    envelope = seal(event, meta, source=f"fieldcrew/{event.context}")
    return Recorded(seq, envelope.model_copy(update={"recordedat": at(minutes)}), event)


def history(*events: Event) -> list[Recorded]:
    """A log of ``events``, one a minute from T0."""
    return [recorded(e, minutes=i, seq=i + 1) for i, e in enumerate(events)]


def issued(
    wo: UUID,
    leader: str = "lead",
    members: tuple[str, ...] = ("m1", "m2", "m3"),
    min_photos: int = 1,
) -> WorkOrderIssued:
    return WorkOrderIssued(
        work_order_id=wo,
        title="Replace pump seal",
        crew=Crew(leader=leader, members=members),
        min_photos_per_member=min_photos,
        issued_by="disp",
    )


def note(
    wo: UUID,
    author: str,
    parts: tuple[tuple[str, int], ...] = (),
    minutes: int = 30,
    note_id: UUID | None = None,
) -> MemberNoteAdded:
    return MemberNoteAdded(
        work_order_id=wo,
        note_id=note_id or uuid4(),
        author=author,
        findings=f"{author} found a worn seal",
        actions=f"{author} replaced it",
        parts=tuple(PartLine(part_no=p, qty=q) for p, q in parts),
        labour_minutes=minutes,
    )


def report(wo: UUID, leader: str, note_ids: tuple[UUID, ...]) -> LeaderReportSubmitted:
    return LeaderReportSubmitted(
        work_order_id=wo,
        report_id=uuid4(),
        leader=leader,
        summary="Seal replaced, pump tested",
        outcome=Outcome.resolved,
        merged_note_ids=note_ids,
    )


def photo(wo: UUID, uploader: str, sha: str, role: str = "member") -> PhotoUploaded:
    return PhotoUploaded(
        work_order_id=wo,
        photo_id=uuid4(),
        sha256=sha,
        object_key=f"sha256/{sha[:2]}/{sha}",
        content_type="image/jpeg",
        size=1000,
        width=64,
        height=48,
        uploader=uploader,
        uploader_role=role,
    )
