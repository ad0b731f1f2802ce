"""The HTTP contract of a work order's lifecycle (docs/design.md §12): the bodies of its
commands, and what the views show of it. Strict like every request (``api_models``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from fieldcrew_shared.api_models import (
    MULTI_LINE,
    ContributedNoteOut,
    CrewIn,
    CrewOut,
    PartOut,
    ReadingOut,
    ReportOut,
    ServerReportOut,
    Strict,
    WorkOrderOut,
    WorkOrderSummary,
)
from fieldcrew_shared.events import CrewChanged, LeaderReportRejected, WorkOrderCancelled
from fieldcrew_shared.lifecycle import Lifecycle
from fieldcrew_shared.lifecycle import Status as WorkOrderStatus
from fieldcrew_shared.records import Recorded

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=MULTI_LINE),
]


class StartRequest(Strict):
    """Starting takes no fields (the body may be left out); ``X-Occurred-At`` says when."""


class CancelRequest(Strict):
    reason: Reason


class RejectReportRequest(Strict):
    reason: Reason = Field(description="What the crew is to rework; shown to the leader")


class ChangeCrewRequest(CrewIn):
    """The whole new crew: ``{leader, members}``."""


class StartedOut(BaseModel):
    by: str
    at: datetime = Field(description="On the device (`X-Occurred-At`) when given")


class CancelledOut(BaseModel):
    by: str
    at: datetime
    reason: str


class CrewChangeOut(BaseModel):
    change: int = Field(ge=1)
    by: str
    at: datetime
    previous: CrewOut
    crew: CrewOut


class RejectionOut(BaseModel):
    report_version: int = Field(ge=1)
    by: str
    at: datetime
    reason: str


class LifecycleOut(BaseModel):
    """Where a work order is in its lifecycle, and how it got there."""

    status: WorkOrderStatus
    overdue: bool = Field(description="Past `due_at` and neither completed nor cancelled")
    started: StartedOut | None
    cancelled: CancelledOut | None
    crew_changes: list[CrewChangeOut]
    report_version: int = Field(ge=0, description="The newest report's version; 0 before one")
    rejections: list[RejectionOut]


class ReportLineOut(BaseModel):
    """Merged notes that say the same (same text, same parts): one line, crediting each."""

    note_ids: list[UUID]
    authors: list[str]


class ReportVersionOut(ReportOut):
    """One version of the leader's report."""

    version: int = Field(ge=1, description="1, then 2 for the report after a rejection, ...")
    lines: list[ReportLineOut] = Field(description="The merged notes as report lines")
    rejection: RejectionOut | None = Field(description="Why the office sent it back, if it did")


class WorkOrderView(WorkOrderOut, LifecycleOut):
    """A work order as issued, with its current crew and its lifecycle."""


class WorkOrderProgress(WorkOrderSummary, LifecycleOut):
    """A work order's progress (status view), with its lifecycle."""

    late_notes: int = Field(ge=0, description="Notes recorded before the report, received after")
    seq: int = Field(
        ge=0,
        description="The log position (stream sequence) of the newest event of the work order"
        " this view includes: once it reaches the `id` of an event a client got from an event"
        " stream, the view shows that event",
    )


class ReportLineSummary(BaseModel):
    """One line of the server report: notes that say the same, once, crediting each author."""

    findings: str
    actions: str
    parts: list[PartOut]
    readings: list[ReadingOut] = Field(default_factory=list)
    labour_minutes: int = Field(description="Everyone's labour on this line, summed")
    note_ids: list[UUID]
    credited: list[str]


class DeduplicatedOut(BaseModel):
    """What the merge saved: member submissions merged into report lines, photo uploads into
    distinct photos."""

    member_submissions: int = Field(ge=0, description="Notes merged into the leader's report")
    report_lines: int = Field(ge=0)
    photo_uploads: int = Field(ge=0, description="Every uploader of every photo")
    photos: int = Field(ge=0, description="Distinct images")


class ReportVersionSummary(BaseModel):
    version: int = Field(ge=1)
    report_id: UUID
    leader: str
    submitted_at: datetime
    rejection: RejectionOut | None


class ServerReportView(ServerReportOut):
    """The server report of one revision, with the lifecycle it was compiled in. Revisions
    compiled before these fields existed leave them out."""

    crew: CrewOut | None = Field(default=None, description="The current crew")
    crew_changes: list[CrewChangeOut] = Field(default_factory=list)
    report_version: int = Field(default=1, ge=0, description="The report version it is from")
    report_versions: list[ReportVersionSummary] = Field(default_factory=list)
    lines: list[ReportLineSummary] = Field(default_factory=list)
    deduplicated: DeduplicatedOut | None = None
    after_report: list[ContributedNoteOut] = Field(
        default_factory=list,
        description="Late notes: recorded before the report, received after it, not merged",
    )
    cancelled: CancelledOut | None = Field(
        default=None, description="Set in the last revision of a cancelled work order"
    )


MAX_SYNC_ACTIONS = 200
MAX_SYNC_BYTES = 1024 * 1024


class SyncAction(Strict):
    """One thing done offline: its id (the client's UUID) is its idempotency key."""

    id: UUID
    type: Literal["note", "report", "start"]
    work_order_id: UUID
    occurred_at: AwareDatetime = Field(description="When it was done on the device")
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="What `POST …/notes`, `…/report` or `…/start` takes; checked action by"
        " action (a bad body rejects that action only)",
    )


class SyncRequest(Strict):
    actions: list[SyncAction] = Field(
        description=f"At most {MAX_SYNC_ACTIONS} actions and {MAX_SYNC_BYTES} bytes in all"
        " (more: 422 `sync_batch_too_large`), carried out in order"
    )


class SyncStatus(StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    rejected = "rejected"


class SyncResult(BaseModel):
    id: UUID
    status: SyncStatus = Field(
        description="`duplicate`: this action id was carried out before, nothing more was done"
    )
    code: str | None = Field(description="Why it was rejected (as the action's own call says)")
    message: str | None
    resource_id: UUID | None = Field(description="The note, the report or the work order")


class SyncResponse(BaseModel):
    results: list[SyncResult] = Field(description="One per action, in the order sent")


def lifecycle_view(lc: Lifecycle, now: datetime) -> dict[str, Any]:
    """:class:`LifecycleOut`'s fields of ``lc`` (``now`` decides ``overdue``)."""
    started = lc.started
    return {
        "status": lc.status,
        "overdue": lc.overdue(now),
        "started": _started(started) if started is not None else None,
        "cancelled": _cancelled(lc.cancelled) if lc.cancelled is not None else None,
        "crew_changes": [_crew_change(r) for r in lc.crew_changes],
        "report_version": lc.report_version,
        "rejections": [_rejection(r) for r in lc.rejections],
    }


def work_order_view(lc: Lifecycle, now: datetime) -> WorkOrderView:
    """The work order as issued, with its current crew and its lifecycle."""
    wo = lc.work_order
    return WorkOrderView.model_validate(
        {
            **wo.model_dump(exclude={"work_order_id", "crew"}),
            "id": wo.work_order_id,
            "crew": lc.crew.model_dump(mode="json"),
            "issued_at": lc.issued.envelope.recorded_at,
            **lifecycle_view(lc, now),
        }
    )


def _started(record: Recorded) -> dict[str, Any]:
    started_at = getattr(record.event, "started_at", None)
    return {
        "by": getattr(record.event, "started_by", record.envelope.actor),
        "at": started_at or record.envelope.recorded_at,
    }


def _cancelled(record: Recorded) -> dict[str, Any]:
    event = record.event
    assert isinstance(event, WorkOrderCancelled)
    return {"by": event.cancelled_by, "at": record.envelope.recorded_at, "reason": event.reason}


def _crew_change(record: Recorded) -> dict[str, Any]:
    event = record.event
    assert isinstance(event, CrewChanged)
    return {
        "change": event.change,
        "by": event.changed_by,
        "at": record.envelope.recorded_at,
        "previous": event.previous.model_dump(mode="json"),
        "crew": event.crew.model_dump(mode="json"),
    }


def _rejection(record: Recorded) -> dict[str, Any]:
    event = record.event
    assert isinstance(event, LeaderReportRejected)
    return {
        "report_version": event.report_version,
        "by": event.rejected_by,
        "at": record.envelope.recorded_at,
        "reason": event.reason,
    }
