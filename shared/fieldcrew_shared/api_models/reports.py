"""The server report of one revision, its revisions, and a work order's timeline (what the
aggregator answers; extra fields may appear)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from fieldcrew_shared.api_models.work_orders import CrewOut, MissingItem, ReadingOut
from fieldcrew_shared.events import Asset, Customer, Outcome, Phase, Priority, Site


class PartOut(BaseModel):
    part_no: str
    qty: int


class IssuedWorkOrderOut(BaseModel):
    work_order_id: UUID
    title: str
    description: str
    site: Site | None
    asset: Asset | None
    customer: Customer | None = None
    priority: Priority
    due_at: datetime | None
    crew: CrewOut
    min_photos_per_member: int
    issued_by: str
    issued_at: datetime


class LeaderReportOut(BaseModel):
    work_order_id: UUID
    report_id: UUID
    leader: str
    summary: str
    root_cause: str
    actions: str
    parts: list[PartOut]
    outcome: Outcome
    merged_note_ids: list[UUID]
    labour_minutes: int
    submitted_at: datetime


class ContributedNoteOut(BaseModel):
    note_id: UUID
    author: str
    findings: str
    actions: str
    parts: list[PartOut]
    labour_minutes: int
    recorded_at: datetime
    merged: bool = Field(description="Whether the leader merged it into the report")
    readings: list[ReadingOut] = Field(
        default_factory=list, description="Values measured on the asset (notes since ADR 0058)"
    )


class ContributionOut(BaseModel):
    user: str
    role: Literal["leader", "member", "former"] = Field(
        description="`former`: taken off the crew by a crew change; what they added stays"
    )
    notes: list[ContributedNoteOut]
    photo_ids: list[UUID]


class PhotoUploaderOut(BaseModel):
    user: str
    role: str
    uploaded_at: datetime


class ReportPhotoOut(BaseModel):
    photo_id: UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    caption: str
    phase: Phase | None
    captured_at: datetime | None
    location: dict[str, float] | None
    uploaders: list[PhotoUploaderOut] = Field(description="Everyone who sent these bytes")


class ServerReportOut(BaseModel):
    """The final server report of one revision: the leader's report with every photo."""

    revision: int = Field(ge=1)
    work_order_id: UUID
    work_order: IssuedWorkOrderOut
    leader_report: LeaderReportOut | None
    contributions: list[ContributionOut]
    photos: list[ReportPhotoOut]
    missing: list[MissingItem]
    compiled_at: datetime


class TimelineEntryOut(BaseModel):
    """One event of a work order: who acted, when it was recorded and when it happened."""

    seq: int = Field(description="Its position in the event log")
    type: str = Field(description="The event, e.g. `MemberNoteAdded`")
    context: str = Field(description="The service that recorded it")
    actor: str
    actor_role: str
    recorded_at: datetime = Field(description="When the server stored it")
    occurred_at: datetime = Field(description="When it happened on the device")
    facts: dict[str, Any] = Field(description="What it is about: ids, counts, a revision")


class RevisionOut(BaseModel):
    """One revision of a server report and what changed since the one before."""

    revision: int = Field(ge=1)
    compiled_at: datetime
    fingerprint: str = Field(description="sha256 of the revision's JSON, written canonically")
    changes: list[str]
