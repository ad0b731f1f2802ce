"""The event catalogue: every event fieldcrew publishes, as versioned pydantic models.

Rules (docs/conventions.md §5): a published schema is never edited. Add a field with a default, or
add a new version and register an upcaster from the previous one in ``UPCASTERS``. Consumers
ignore unknown fields (``extra="ignore"``), so an old and a new build can run side by side.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

NO_WORK_ORDER = UUID(int=0)
"""The ``work_order_id`` of an event that is not about a work order."""


class Event(BaseModel):
    """Base of every event. ``context`` and ``name`` place it on the bus.

    Almost every event is about a work order, and its subject names it. An event of another
    aggregate (a webhook subscription) sets ``about_work_order`` False, names its own id in
    ``aggregate_id``, and leaves ``work_order_id`` as ``NO_WORK_ORDER`` (ADR 0043)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    context: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1
    readable_from: ClassVar[int | None] = None
    """The oldest version of this event whose readers may read this one as theirs, by ignoring
    the fields they do not know (this version only adds fields); None: none older (ADR 0058)."""
    about_work_order: ClassVar[bool] = True
    aggregate_parameter: ClassVar[str] = "workOrderId"  # its id's name in docs/asyncapi.json

    work_order_id: UUID

    @classmethod
    def type_name(cls) -> str:
        """The CloudEvents ``type``, e.g. ``fieldcrew.team.MemberNoteAdded.v1``."""
        return f"fieldcrew.{cls.context}.{cls.name}.v{cls.version}"

    @property
    def aggregate_id(self) -> UUID:
        """The id its subject names (the CloudEvents ``subject``): the work order's."""
        return self.work_order_id

    @property
    def subject(self) -> str:
        """The NATS subject: ``fieldcrew.<context>.<work_order_id>.<EventName>``."""
        return subject_for(self.context, self.aggregate_id, self.name)


def subject_for(context: str, work_order_id: UUID | str, name: str = ">") -> str:
    """Subject (or wildcard filter with ``name='>'``) of one aggregate's events."""
    return f"fieldcrew.{context}.{work_order_id}.{name}"


def work_order_subjects(work_order_id: UUID | str) -> str:
    """Every event of one work order, whichever context wrote it: its whole history, and the
    consistency boundary of its commands (docs/design.md §3)."""
    return f"fieldcrew.*.{work_order_id}.>"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Crew(BaseModel):
    """A repair crew: the leader and the other members, named by user id (token ``sub``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    leader: str
    members: tuple[str, ...] = ()

    @property
    def everyone(self) -> tuple[str, ...]:
        """Leader first, then the members, without repeats."""
        return (self.leader, *[m for m in self.members if m != self.leader])


class PartLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    part_no: str
    qty: int


class Site(BaseModel):
    """Where the work is: a name (the site's, or a plain text a client sent), its address, and
    its position when known."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    address: str = ""
    lat: float | None = None
    lon: float | None = None


class Asset(BaseModel):
    """What is repaired: the customer's id for it, and its model and serial number when known."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    model: str = ""
    serial: str = ""


class Customer(BaseModel):
    """Whom the work is for, and how to reach them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    phone: str = ""
    email: str = ""


class WorkOrderIssuedV1(Event):
    """Version 1, as published: site and asset as plain text ("" when none). Read only through
    its upcaster to :class:`WorkOrderIssued` (v2); kept to document the published schema."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderIssued"
    version: ClassVar[int] = 1

    title: str
    description: str = ""
    site: str = ""
    asset: str = ""
    priority: Priority = Priority.normal
    due_at: datetime | None = None
    crew: Crew
    min_photos_per_member: int = 1
    issued_by: str


class WorkOrderIssued(Event):
    """Version 2: site, asset and customer as structured records (None when not given)."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderIssued"
    version: ClassVar[int] = 2

    title: str
    description: str = ""
    site: Site | None = None
    asset: Asset | None = None
    customer: Customer | None = None
    priority: Priority = Priority.normal
    due_at: datetime | None = None
    crew: Crew
    min_photos_per_member: int = 1
    issued_by: str


def _issued_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 site is the v2 site's name, a v1 asset the v2 asset's id; "" is none."""
    site, asset = data.get("site") or "", data.get("asset") or ""
    return {
        **data,
        "site": {"name": site} if site else None,
        "asset": {"id": asset} if asset else None,
        "customer": None,
    }


class Phase(StrEnum):
    before = "before"
    during = "during"
    after = "after"


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


class Reading(BaseModel):
    """A value measured on the asset (a pressure, a voltage, a temperature), before, during or
    after the repair: what shows that the repair worked."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    value: float
    unit: str = ""
    phase: Phase | None = None


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


def _note_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 note took no readings."""
    return {**data, "readings": []}


class Outcome(StrEnum):
    resolved = "resolved"
    partially_resolved = "partially_resolved"
    not_resolved = "not_resolved"
    follow_up_required = "follow_up_required"


class ReportLine(BaseModel):
    """One line of the leader's report: the merged notes that say the same."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    note_ids: tuple[UUID, ...]


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


class WorkOrderStarted(Event):
    """The leader started the work on site."""

    context: ClassVar[str] = "team"
    name: ClassVar[str] = "WorkOrderStarted"

    started_by: str
    started_at: datetime | None = None
    """When it started on the device (``X-Occurred-At``); None: when it was recorded."""


class WorkOrderCancelled(Event):
    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderCancelled"

    reason: str
    cancelled_by: str


class CrewChanged(Event):
    """The office changed the crew: ``previous`` is the crew before, ``crew`` the crew after."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "CrewChanged"

    change: int
    """1 for the first change of this work order's crew, 2 for the next, ..."""
    previous: Crew
    crew: Crew
    changed_by: str


class LeaderReportRejected(Event):
    """The office sent the leader's report (``version``) back to the crew for rework."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "LeaderReportRejected"

    report_id: UUID
    report_version: int
    reason: str
    rejected_by: str


class GeoPoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    lat: float
    lon: float


class PhotoUploaded(Event):
    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoUploaded"

    photo_id: UUID
    sha256: str
    object_key: str
    content_type: str
    size: int
    width: int
    height: int
    uploader: str
    uploader_role: str
    caption: str = ""
    phase: Phase | None = None
    captured_at: datetime | None = None
    location: GeoPoint | None = None
    duplicate: bool = False


class PhotoRenditionsMade(Event):
    """The copies clients see of a photo were made after its upload: the served copy
    (re-encoded, no metadata) and the thumbnail, both in the photo bucket under keys named by
    the upload's sha256."""

    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoRenditionsMade"

    photo_id: UUID
    sha256: str
    served_key: str
    served_width: int
    served_height: int
    thumbnail_key: str
    thumbnail_width: int
    thumbnail_height: int


class PhotoRenditionFailed(Event):
    """The copies of a photo could not be made, after ``attempts`` tries: the photo is shown
    without them. The original is kept unchanged as evidence."""

    context: ClassVar[str] = "photos"
    name: ClassVar[str] = "PhotoRenditionFailed"

    photo_id: UUID
    sha256: str
    reason: str
    attempts: int


class ServerReportCompiledV1(Event):
    """Version 1, as published: the whole report, always in this one message. Read only
    through its upcaster to :class:`ServerReportCompiled` (v2); kept to document the
    published schema."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportCompiled"
    version: ClassVar[int] = 1

    revision: int
    report: dict[str, Any] = Field(default_factory=dict)


class ServerReportCompiled(Event):
    """A revision of a work order's server report was compiled: its number, a summary, and
    the report itself, in ``report`` when it fits one message comfortably, else in the
    ``report_parts`` :class:`ServerReportPart` events appended just before (ADR 0028). Version 1
    always carried the whole report in one message, which a large report could not fit."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportCompiled"
    version: ClassVar[int] = 2

    revision: int
    compiled_at: datetime | None = None
    report_version: int = 0  # of the leader's report it was compiled from; 0: none
    cancelled: bool = False
    notes: int = 0
    photos: int = 0
    missing: int = 0
    report: dict[str, Any] | None = None
    report_parts: int = 0

    @model_validator(mode="before")
    @classmethod
    def _summary_of_its_report(cls, data: Any) -> Any:
        """The summary of the report it carries, where not given."""
        if not isinstance(data, dict) or "report_version" in data:  # written with its summary
            return data
        report = data.get("report")
        return {**report_summary(report), **data} if isinstance(report, Mapping) else data


class ServerReportPart(Event):
    """Part ``index`` of ``count`` of a server report revision too large for one message:
    ``chunk`` is a slice of the report's JSON, compressed and base64-encoded
    (:func:`split_report`, :func:`join_report`)."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportPart"

    revision: int
    index: int
    count: int
    chunk: str


INLINE_REPORT_BYTES = 256 * 1024
"""A report whose JSON is larger than this travels in parts (NATS takes 1 MB a message by
default)."""
REPORT_PART_CHARS = 256 * 1024


def split_report(report_json: bytes) -> list[str]:
    """The chunks of :class:`ServerReportPart` events holding ``report_json``."""
    packed = base64.b64encode(zlib.compress(report_json)).decode("ascii")
    return [packed[i : i + REPORT_PART_CHARS] for i in range(0, len(packed), REPORT_PART_CHARS)]


def join_report(chunks: Sequence[str]) -> dict[str, Any]:
    """The report :func:`split_report` cut into ``chunks`` (in order)."""
    report: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode("".join(chunks))))
    return report


def report_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What ``ServerReportCompiled`` says of a compiled report beside it: when it was
    compiled, from which version of the leader's report (1 for reports from before report
    versions, 0 without a leader's report), whether the work order was cancelled, how many
    notes and distinct photos it holds, how many things it lists as missing."""
    contributions = report.get("contributions") or ()
    version = report.get("report_version", 1 if report.get("leader_report") else 0)
    return {
        "compiled_at": report.get("compiled_at"),
        "report_version": int(version),
        "cancelled": bool(report.get("cancelled")),
        "notes": sum(len(c.get("notes") or ()) for c in contributions),
        "photos": len(report.get("photos") or ()),
        "missing": len(report.get("missing") or ()),
    }


def _server_report_compiled_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: the report, and its summary beside it (v2 sums up the report it carries)."""
    return data


class ShareLinkCreated(Event):
    """A dispatcher handed out a read-only link to one revision of the server report. Only the
    sha256 of the link's secret is recorded, never the secret."""

    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkCreated"

    link_id: UUID
    secret_sha256: str
    revision: int
    expires_at: datetime
    created_by: str


class ShareLinkRevoked(Event):
    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkRevoked"

    link_id: UUID
    revoked_by: str


class SharedView(StrEnum):
    """What a share link's holder opened."""

    page = "page"
    pdf = "pdf"


class ShareLinkViewed(Event):
    """Someone holding a share link opened its page or its PDF (the audit trail)."""

    context: ClassVar[str] = "documents"
    name: ClassVar[str] = "ShareLinkViewed"

    link_id: UUID
    view: SharedView


class WebhookRegistered(Event):
    """An admin registered a URL to be sent every event of the types it names (``*``: all).
    Its URL and signing secret are ``sealed``: encrypted with the aggregator's webhook key, so
    that no reader of the log learns where events go or how they are signed (ADR 0043)."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "WebhookRegistered"
    about_work_order: ClassVar[bool] = False
    aggregate_parameter: ClassVar[str] = "webhookId"

    work_order_id: UUID = Field(default=NO_WORK_ORDER, exclude=True)
    webhook_id: UUID
    event_types: tuple[str, ...]
    sealed: str
    registered_by: str

    @property
    def aggregate_id(self) -> UUID:
        return self.webhook_id


CATALOGUE: dict[str, type[Event]] = {
    cls.type_name(): cls
    for cls in (
        WorkOrderIssued,
        WorkOrderStarted,
        WorkOrderCancelled,
        CrewChanged,
        MemberNoteAdded,
        LeaderReportSubmitted,
        LeaderReportRejected,
        PhotoUploaded,
        PhotoRenditionsMade,
        PhotoRenditionFailed,
        ServerReportCompiled,
        ServerReportPart,
        ShareLinkCreated,
        ShareLinkRevoked,
        ShareLinkViewed,
        WebhookRegistered,
    )
}
"""Current version of every event, by CloudEvents ``type``."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[str, Upcaster] = {
    WorkOrderIssuedV1.type_name(): _issued_v1_to_v2,
    MemberNoteAddedV1.type_name(): _note_v1_to_v2,
    ServerReportCompiledV1.type_name(): _server_report_compiled_v1,
}
"""``old type -> function`` turning an old payload into the next version's payload (read as
``….v<N+1>``, upcast again until the current version)."""

PUBLISHED: tuple[type[Event], ...] = (
    WorkOrderIssuedV1,
    MemberNoteAddedV1,
    ServerReportCompiledV1,
    *CATALOGUE.values(),
)
"""Every version ever published, old ones included (for documentation and golden samples)."""


def next_version(type_name: str) -> str:
    """``fieldcrew.team.X.v1`` -> ``fieldcrew.team.X.v2``."""
    stem, _, version = type_name.rpartition(".v")
    return f"{stem}.v{int(version) + 1}"
