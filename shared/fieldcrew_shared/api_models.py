"""The HTTP contract: request and response bodies shared by the services and the gateway.

Requests are strict: unknown fields are refused, texts and lists have limits, numbers must be
JSON numbers (not ``"1"`` or ``true``), times carry their UTC offset, and no text holds control
characters (a NUL cannot even be stored in PostgreSQL: one in an event would stall the
aggregator on it). Business rules (who may do what) are not here; they live in each service's
``domain`` module.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fieldcrew_shared.events import Asset, Customer, Outcome, Phase, Priority, Site
from fieldcrew_shared.lifecycle import Status

WorkOrderStatus = Status
"""A work order's status (``fieldcrew_shared.lifecycle``)."""

ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""No control characters at all: names, ids, titles."""
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""No control characters but tab and line breaks: free text."""

UserId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=ONE_LINE)]
LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=MULTI_LINE)]
RequiredText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000, pattern=MULTI_LINE),
]
PartNo = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrewIn(Strict):
    leader: UserId
    members: list[UserId] = Field(default_factory=list, max_length=50)


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]
PHONE = r"^(\+?[0-9][0-9 ()./-]{2,31})?$"
EMAIL = r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$"


def _matching(pattern: str, message: str) -> AfterValidator:
    """Checks ``pattern`` with a message a person understands (pydantic's names the regex);
    the schema still carries the pattern for clients."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError("string_pattern_mismatch", message)
        return value

    return AfterValidator(check)


Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    _matching(PHONE, "Not a phone number: digits, spaces and + ( ) . / - (3 to 32)"),
    WithJsonSchema({"type": "string", "maxLength": 32, "pattern": PHONE}),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    _matching(EMAIL, "Not an email address (name@example.com)"),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": EMAIL}),
]


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


Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32, pattern=ONE_LINE)]


class ReadingIn(Strict):
    """A value measured on the asset: ``{"name": "discharge pressure", "value": 4.2,
    "unit": "bar", "phase": "after"}``."""

    name: Name
    value: float = Field(ge=-1e12, le=1e12, allow_inf_nan=False, strict=True)
    unit: Unit = ""
    phase: Phase | None = Field(default=None, description="Before, during or after the repair")


class ReadingOut(BaseModel):
    name: str
    value: float
    unit: str
    phase: Phase | None


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


class RenditionState(StrEnum):
    """Whether the copies clients see of a photo exist yet: they are made after the upload."""

    pending = "pending"  # being prepared: no ``url`` yet
    ready = "ready"
    failed = "failed"  # could not be made; the original is kept as evidence


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
    rendition: RenditionState = Field(
        default=RenditionState.ready,
        description="`pending` until the served copy and thumbnail are made after the upload",
    )
    url: str | None = Field(
        default=None, description="Short-lived URL of the served copy, once it is `ready`"
    )
    thumbnail_url: str | None = Field(
        default=None, description="Short-lived URL of the ~320 px thumbnail, once it is `ready`"
    )


MAX_QUERY_INT = 2**31 - 1
"""Largest revision or offset a query may ask for (a PostgreSQL ``int``; larger is a 422)."""


# Response bodies the gateway documents (what the services answer; extra fields may appear).


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. `not_found`, `rate_limited`")
    message: str
    details: list[ValidationIssue] | None = Field(
        default=None, description="What is wrong with the input (422 only)"
    )


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


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


MAX_CAPTION = 500
"""Characters in a photo's caption."""

PHOTO_UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "additionalProperties": False,
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A JPEG, PNG, WebP or HEIC image; its name is not used",
                        },
                        "caption": {"type": "string", "maxLength": MAX_CAPTION},
                        "phase": {"type": "string", "enum": [p.value for p in Phase]},
                    },
                }
            }
        },
    }
}
"""OpenAPI of the photo upload form (the photos service and the gateway document the same
multipart body without parsing it through FastAPI)."""


MAX_SHARE_HOURS = 720
"""A share link lives at most 30 days."""


class CreateShareLinkRequest(Strict):
    expires_in_hours: int = Field(ge=1, le=MAX_SHARE_HOURS, strict=True)
    revision: int | None = Field(
        default=None, ge=1, le=MAX_QUERY_INT, strict=True, description="Default: the newest"
    )


class ShareLinkOut(BaseModel):
    """A new share link. ``url`` holds its secret and is shown this once: only a hash of the
    secret is kept."""

    id: UUID
    url: str
    expires_at: datetime
    revision: int


class ShareLinkState(StrEnum):
    active = "active"
    revoked = "revoked"
    expired = "expired"


class ShareLinkSummary(BaseModel):
    """A share link as the office sees it later (without its secret)."""

    id: UUID
    revision: int
    state: ShareLinkState
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None
    views: int


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


class RegisterWebhookRequest(Strict):
    url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=ONE_LINE,
        description="Where events are POSTed (http or https; in production a public address)",
    )
    event_types: list[Annotated[str, StringConstraints(max_length=200, pattern=ONE_LINE)]] = Field(
        min_length=1,
        max_length=100,
        description='CloudEvents types, e.g. "fieldcrew.aggregator.ServerReportCompiled.v1", or'
        ' ["*"] for every event',
    )


class WebhookOut(BaseModel):
    """A webhook subscription (its signing secret is shown once, when it is registered)."""

    id: UUID
    url: str
    event_types: list[str]
    registered_by: str
    registered_at: datetime | None = Field(description="None until the worker has read it")
    secret: str | None = Field(
        default=None, description="The Standard Webhooks signing secret (whsec_…): only in the 201"
    )
    deliveries: dict[str, int] = Field(
        default_factory=dict, description="Deliveries by status: pending, delivered, dead"
    )


class AttemptOut(BaseModel):
    attempt: int = Field(ge=1)
    at: datetime
    seconds: float
    status_code: int | None = Field(description="The receiver's HTTP status; None: no answer")
    error: str | None
    outcome: Literal["delivered", "failed", "dead"]


class DeliveryOut(BaseModel):
    """One event owed to a webhook: its state and every attempt so far."""

    event_id: str = Field(description="Also the `webhook-id` header the receiver sees")
    event_type: str
    sequence: int
    status: Literal["pending", "delivered", "dead"]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempts: list[AttemptOut]
