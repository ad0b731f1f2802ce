"""Work orders, their notes and the leader's report: what clients send to issue, note and
report, and what the services answer about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from fieldcrew_shared.api_models.constraints import (
    Email,
    LongText,
    Name,
    PartNo,
    Phone,
    RequiredText,
    ShortText,
    Strict,
    Title,
    Unit,
    UserId,
)
from fieldcrew_shared.events import Asset, Customer, Outcome, Phase, Priority, Site
from fieldcrew_shared.lifecycle import Status

WorkOrderStatus = Status
"""A work order's status (``fieldcrew_shared.lifecycle``)."""


class CrewIn(Strict):
    leader: UserId
    members: list[UserId] = Field(default_factory=list, max_length=50)


class SiteIn(Strict):
    """Where the work is. Sent as plain text, it is the name (as clients of v1 did)."""

    name: Name
    address: Name
    lat: float | None = Field(default=None, ge=-90, le=90, strict=True)
    lon: float | None = Field(default=None, ge=-180, le=180, strict=True)

    @model_validator(mode="after")
    def _both_or_neither(self) -> SiteIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class AssetIn(Strict):
    """What is repaired. Sent as plain text, it is the id (as clients of v1 did)."""

    id: PartNo
    model: ShortText = ""
    serial: ShortText = ""


class CustomerIn(Strict):
    name: Name
    phone: Phone = ""
    email: Email = ""


class IssueWorkOrderRequest(Strict):
    title: Title
    description: LongText = ""
    site: SiteIn | ShortText | None = Field(
        default=None, description="`{name, address, lat?, lon?}`, or a plain text: the name"
    )
    asset: AssetIn | ShortText | None = Field(
        default=None, description="`{id, model?, serial?}`, or a plain text: the id"
    )
    customer: CustomerIn | None = None
    priority: Priority = Priority.normal
    due_at: AwareDatetime | None = None
    crew: CrewIn
    min_photos_per_member: int = Field(default=1, ge=0, le=50, strict=True)

    def structured_site(self) -> Site | None:
        """The site as the event records it: plain text is the name; blank text is none."""
        if isinstance(self.site, str):
            return Site(name=self.site.strip()) if self.site.strip() else None
        return Site.model_validate(self.site.model_dump()) if self.site is not None else None

    def structured_asset(self) -> Asset | None:
        """The asset as the event records it: plain text is the id; blank text is none."""
        if isinstance(self.asset, str):
            return Asset(id=self.asset.strip()) if self.asset.strip() else None
        return Asset.model_validate(self.asset.model_dump()) if self.asset is not None else None

    def structured_customer(self) -> Customer | None:
        if self.customer is None:
            return None
        return Customer.model_validate(self.customer.model_dump())


class PartIn(Strict):
    part_no: PartNo
    qty: int = Field(ge=1, le=100_000, strict=True)


class ReadingIn(Strict):
    """A value measured on the asset: ``{"name": "discharge pressure", "value": 4.2,
    "unit": "bar", "phase": "after"}``."""

    name: Name
    value: float = Field(ge=-1e12, le=1e12, allow_inf_nan=False, strict=True)
    unit: Unit = ""
    phase: Phase | None = Field(default=None, description="Before, during or after the repair")


class AddNoteRequest(Strict):
    findings: LongText = ""
    actions: LongText = ""
    parts: list[PartIn] = Field(default_factory=list, max_length=200)
    labour_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60, strict=True)
    readings: list[ReadingIn] = Field(default_factory=list, max_length=50)


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


class ReadingOut(BaseModel):
    name: str
    value: float
    unit: str
    phase: Phase | None


class WorkOrderOut(BaseModel):
    id: UUID
    title: str
    description: str
    site: Site | None
    asset: Asset | None
    customer: Customer | None = None
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
    after_report: bool = Field(
        default=False, description="Recorded before the leader's report, received after it"
    )
    readings: list[ReadingOut] = Field(default_factory=list)


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


class CrewOut(BaseModel):
    leader: str
    members: list[str]


class MissingItem(BaseModel):
    """One thing that keeps the server report from being complete."""

    kind: Literal["work_order", "leader_report", "photos", "merged_notes", "notes_not_merged"]
    who: str | None = None
    have: int | None = None
    need: int | None = None
    note_ids: list[UUID] | None = None
    detail: str | None = None


class WorkOrderSummary(BaseModel):
    """A work order's progress: status, crew, counts and what is still missing."""

    id: UUID
    title: str
    site: Site | None
    asset: Asset | None
    customer: Customer | None = None
    priority: Priority
    due_at: datetime | None
    crew: CrewOut
    min_photos_per_member: int
    issued_at: datetime
    status: WorkOrderStatus
    notes: int = Field(ge=0)
    photos: int = Field(ge=0, description="Distinct images")
    photos_by_member: dict[str, int]
    report_submitted: bool
    revision: int = Field(ge=0, description="Server report revisions compiled so far")
    missing: list[MissingItem]
