"""The team service's events: the work started, a member's note, the leader's report; and the
records they carry (parts, readings, report lines)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from fieldcrew_shared.events.base import Event


class PartLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    part_no: str
    qty: int


class Phase(StrEnum):
    before = "before"
    during = "during"
    after = "after"


class Reading(BaseModel):
    """A value measured on the asset (a pressure, a voltage, a temperature), before, during or
    after the repair: what shows that the repair worked."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    value: float
    unit: str = ""
    phase: Phase | None = None


class Outcome(StrEnum):
    resolved = "resolved"
    partially_resolved = "partially_resolved"
    not_resolved = "not_resolved"
    follow_up_required = "follow_up_required"


class ReportLine(BaseModel):
    """One line of the leader's report: the merged notes that say the same."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    note_ids: tuple[UUID, ...]


class WorkOrderStarted(Event):
    """The leader started the work on site."""

    context: ClassVar[str] = "team"
    name: ClassVar[str] = "WorkOrderStarted"

    started_by: str
    started_at: datetime | None = None
    """When it started on the device (``X-Occurred-At``); None: when it was recorded."""


class MemberNoteAddedV1(Event):
    """Version 1, as published: a note without readings. Read only through its upcaster to
    :class:`MemberNoteAdded` (v2); kept to document the published schema."""

    context: ClassVar[str] = "team"
    name: ClassVar[str] = "MemberNoteAdded"
    version: ClassVar[int] = 1

    note_id: UUID
    author: str
    findings: str = ""
    actions: str = ""
    parts: tuple[PartLine, ...] = ()
    labour_minutes: int = 0
    after_report: bool = False
    """Recorded offline before the leader's report but received after it (a late note)."""


class MemberNoteAdded(Event):
    """Version 2: version 1's fields unchanged, and the ``readings`` the member took. A reader
    of version 1 may read it by ignoring ``readings`` (``readable_from`` 1, ADR 0058)."""

    context: ClassVar[str] = "team"
    name: ClassVar[str] = "MemberNoteAdded"
    version: ClassVar[int] = 2
    readable_from: ClassVar[int | None] = 1

    note_id: UUID
    author: str
    findings: str = ""
    actions: str = ""
    parts: tuple[PartLine, ...] = ()
    labour_minutes: int = 0
    after_report: bool = False
    """Recorded offline before the leader's report but received after it (a late note)."""
    readings: tuple[Reading, ...] = ()


def note_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 note took no readings."""
    return {**data, "readings": []}


class LeaderReportSubmitted(Event):
    context: ClassVar[str] = "team"
    name: ClassVar[str] = "LeaderReportSubmitted"

    report_id: UUID
    leader: str
    summary: str
    root_cause: str = ""
    actions: str = ""
    parts: tuple[PartLine, ...] = ()
    outcome: Outcome
    merged_note_ids: tuple[UUID, ...] = ()
    labour_minutes: int = 0
    report_version: int = 1
    """1 for the first report, 2 for the one after its rejection, ..."""
    lines: tuple[ReportLine, ...] = ()
    """The merged notes as report lines: identical notes (same text, same parts) are one line
    naming every one of them. Empty in reports from before lines were recorded."""
