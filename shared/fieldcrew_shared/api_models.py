"""The HTTP contract: request and response bodies shared by the services and the gateway.

Requests are strict: unknown fields are refused, texts and lists have limits. Business rules
(who may do what) are not here; they live in each service's ``domain`` module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fieldcrew_shared.events import Outcome, Phase, Priority

UserId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
RequiredText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
]
PartNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrewIn(Strict):
    leader: UserId
    members: list[UserId] = Field(default_factory=list, max_length=50)


class IssueWorkOrderRequest(Strict):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: LongText = ""
    site: ShortText = ""
    asset: ShortText = ""
    priority: Priority = Priority.normal
    due_at: datetime | None = None
    crew: CrewIn
    min_photos_per_member: int = Field(default=1, ge=0, le=50)


class PartIn(Strict):
    part_no: PartNo
    qty: int = Field(ge=1, le=100_000)


class AddNoteRequest(Strict):
    findings: LongText = ""
    actions: LongText = ""
    parts: list[PartIn] = Field(default_factory=list, max_length=200)
    labour_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)


class SubmitReportRequest(Strict):
    summary: RequiredText
    root_cause: LongText = ""
    actions: LongText = ""
    parts: list[PartIn] | None = Field(
        default=None,
        max_length=500,
        description="Merged parts; when omitted, the parts of the merged notes summed by part_no",
    )
    outcome: Outcome
    note_ids: list[UUID] | None = Field(
        default=None,
        max_length=500,
        description="Notes merged into the report; when omitted, every note of the work order",
    )


class WorkOrderOut(BaseModel):
    id: UUID
    title: str
    description: str
    site: str
    asset: str
    priority: Priority
    due_at: datetime | None
    crew: dict[str, Any]
    min_photos_per_member: int
    issued_by: str
    issued_at: datetime


class NoteOut(BaseModel):
    id: UUID
    work_order_id: UUID
    author: str
    findings: str
    actions: str
    parts: list[dict[str, Any]]
    labour_minutes: int
    recorded_at: datetime


class ReportOut(BaseModel):
    id: UUID
    work_order_id: UUID
    leader: str
    summary: str
    root_cause: str
    actions: str
    parts: list[dict[str, Any]]
    outcome: Outcome
    merged_note_ids: list[UUID]
    labour_minutes: int
    recorded_at: datetime


class PhotoOut(BaseModel):
    id: UUID
    work_order_id: UUID
    sha256: str
    content_type: str
    size: int
    width: int
    height: int
    uploaders: list[str]
    caption: str
    phase: Phase | None
    captured_at: datetime | None
    location: dict[str, float] | None
    uploaded_at: datetime
    duplicate: bool = False
    url: str | None = None
