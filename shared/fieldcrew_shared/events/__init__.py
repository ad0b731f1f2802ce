"""The event catalogue: every event fieldcrew publishes, as versioned pydantic models.

Rules (docs/conventions.md §5): a published schema is never edited. Add a field with a default, or
add a new version and register an upcaster from the previous one in ``UPCASTERS``. Consumers
ignore unknown fields (``extra="ignore"``), so an old and a new build can run side by side.

The events of each service are in a module of its own (:mod:`.dispatch`, :mod:`.team`,
:mod:`.photos`, :mod:`.aggregator`, :mod:`.documents`), their base in :mod:`.base`, the
catalogue of them all and the upcasters in :mod:`.catalogue`; every name is importable from here.
"""

from __future__ import annotations

from fieldcrew_shared.events.aggregator import (
    INLINE_REPORT_BYTES,
    REPORT_PART_CHARS,
    ServerReportCompiled,
    ServerReportCompiledV1,
    ServerReportPart,
    WebhookRegistered,
    join_report,
    report_summary,
    server_report_compiled_v1_to_v2,
    split_report,
)
from fieldcrew_shared.events.base import NO_WORK_ORDER, Event, subject_for, work_order_subjects
from fieldcrew_shared.events.catalogue import (
    CATALOGUE,
    PUBLISHED,
    UPCASTERS,
    Upcaster,
    next_version,
)
from fieldcrew_shared.events.dispatch import (
    Asset,
    Crew,
    CrewChanged,
    Customer,
    LeaderReportRejected,
    Priority,
    Site,
    WorkOrderCancelled,
    WorkOrderIssued,
    WorkOrderIssuedV1,
    issued_v1_to_v2,
)
from fieldcrew_shared.events.documents import (
    SharedView,
    ShareLinkCreated,
    ShareLinkRevoked,
    ShareLinkViewed,
)
from fieldcrew_shared.events.photos import (
    GeoPoint,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
)
from fieldcrew_shared.events.team import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    MemberNoteAddedV1,
    Outcome,
    PartLine,
    Phase,
    Reading,
    ReportLine,
    WorkOrderStarted,
    note_v1_to_v2,
)

__all__ = [
    "CATALOGUE",
    "INLINE_REPORT_BYTES",
    "NO_WORK_ORDER",
    "PUBLISHED",
    "REPORT_PART_CHARS",
    "UPCASTERS",
    "Asset",
    "Crew",
    "CrewChanged",
    "Customer",
    "Event",
    "GeoPoint",
    "LeaderReportRejected",
    "LeaderReportSubmitted",
    "MemberNoteAdded",
    "MemberNoteAddedV1",
    "Outcome",
    "PartLine",
    "Phase",
    "PhotoRenditionFailed",
    "PhotoRenditionsMade",
    "PhotoUploaded",
    "Priority",
    "Reading",
    "ReportLine",
    "ServerReportCompiled",
    "ServerReportCompiledV1",
    "ServerReportPart",
    "ShareLinkCreated",
    "ShareLinkRevoked",
    "ShareLinkViewed",
    "SharedView",
    "Site",
    "Upcaster",
    "WebhookRegistered",
    "WorkOrderCancelled",
    "WorkOrderIssued",
    "WorkOrderIssuedV1",
    "WorkOrderStarted",
    "issued_v1_to_v2",
    "join_report",
    "next_version",
    "note_v1_to_v2",
    "report_summary",
    "server_report_compiled_v1_to_v2",
    "split_report",
    "subject_for",
    "work_order_subjects",
]
