"""What team's API shows of its events: notes, and each version of the leader's report with
its lines (which notes said the same, and who wrote them) and its rejection, if any."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from fieldcrew_shared.api_lifecycle import ReportVersionOut
from fieldcrew_shared.api_models import NoteOut
from fieldcrew_shared.events import LeaderReportRejected, LeaderReportSubmitted, MemberNoteAdded
from fieldcrew_shared.records import Recorded


def notes(history: Iterable[Recorded]) -> list[tuple[MemberNoteAdded, Recorded]]:
    """The notes of a history, each once, in the order they were recorded."""
    seen: dict[UUID, tuple[MemberNoteAdded, Recorded]] = {}
    for record in history:
        if isinstance(record.event, MemberNoteAdded):
            seen.setdefault(record.event.note_id, (record.event, record))
    return list(seen.values())


def note_out(record: Recorded) -> NoteOut:
    note = record.event
    assert isinstance(note, MemberNoteAdded)
    return NoteOut.model_validate(
        {**note.model_dump(), "id": note.note_id, "recorded_at": record.envelope.recorded_at}
    )


def report_out(record: Recorded, history: Sequence[Recorded]) -> ReportVersionOut:
    """One version of the report; ``history`` gives its lines' authors and its rejection."""
    report = record.event
    assert isinstance(report, LeaderReportSubmitted)
    return ReportVersionOut.model_validate(
        {
            **report.model_dump(exclude={"lines", "report_version"}),
            "id": report.report_id,
            "recorded_at": record.envelope.recorded_at,
            "version": report.report_version,
            "lines": _lines(report, history),
            "rejection": _rejection(report, history),
        }
    )


def _lines(report: LeaderReportSubmitted, history: Sequence[Recorded]) -> list[dict[str, Any]]:
    """Each line's notes and their authors; a report from before lines were recorded has a
    line per merged note."""
    authors = {note.note_id: note.author for note, _ in notes(history)}
    groups = [line.note_ids for line in report.lines] or [(i,) for i in report.merged_note_ids]
    return [
        {"note_ids": ids, "authors": list(dict.fromkeys(authors[i] for i in ids if i in authors))}
        for ids in groups
    ]


def _rejection(report: LeaderReportSubmitted, history: Sequence[Recorded]) -> dict[str, Any] | None:
    for record in history:
        event = record.event
        if isinstance(event, LeaderReportRejected) and event.report_id == report.report_id:
            return {
                "report_version": event.report_version,
                "by": event.rejected_by,
                "at": record.envelope.recorded_at,
                "reason": event.reason,
            }
    return None
