"""The HTTP contract: request and response bodies shared by the services and the gateway.

Requests are strict: unknown fields are refused, texts and lists have limits, numbers must be
JSON numbers (not ``"1"`` or ``true``), times carry their UTC offset, and no text holds control
characters (a NUL cannot even be stored in PostgreSQL: one in an event would stall the
aggregator on it). Business rules (who may do what) are not here; they live in each service's
``domain`` module.

One module per area: :mod:`.constraints` (texts and limits every request uses),
:mod:`.work_orders`, :mod:`.photos`, :mod:`.reports`, :mod:`.sharing`, :mod:`.webhooks` and
:mod:`.error_bodies`; every name is importable from here.
"""

from __future__ import annotations

from fieldcrew_shared.api_models.constraints import (
    EMAIL,
    MAX_QUERY_INT,
    MULTI_LINE,
    ONE_LINE,
    PHONE,
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
from fieldcrew_shared.api_models.error_bodies import ErrorDetail, ErrorOut, ValidationIssue
from fieldcrew_shared.api_models.photos import (
    MAX_CAPTION,
    PHOTO_UPLOAD_FORM,
    PhotoOut,
    RenditionState,
)
from fieldcrew_shared.api_models.reports import (
    ContributedNoteOut,
    ContributionOut,
    IssuedWorkOrderOut,
    LeaderReportOut,
    PartOut,
    PhotoUploaderOut,
    ReportPhotoOut,
    RevisionOut,
    ServerReportOut,
    TimelineEntryOut,
)
from fieldcrew_shared.api_models.sharing import (
    MAX_SHARE_HOURS,
    CreateShareLinkRequest,
    ShareLinkOut,
    ShareLinkState,
    ShareLinkSummary,
)
from fieldcrew_shared.api_models.webhooks import (
    AttemptOut,
    DeliveryOut,
    RegisterWebhookRequest,
    WebhookOut,
)
from fieldcrew_shared.api_models.work_orders import (
    AddNoteRequest,
    AssetIn,
    CrewIn,
    CrewOut,
    CustomerIn,
    IssueWorkOrderRequest,
    MissingItem,
    NoteOut,
    PartIn,
    ReadingIn,
    ReadingOut,
    ReportOut,
    SiteIn,
    SubmitReportRequest,
    WorkOrderOut,
    WorkOrderStatus,
    WorkOrderSummary,
)

__all__ = [
    "EMAIL",
    "MAX_CAPTION",
    "MAX_QUERY_INT",
    "MAX_SHARE_HOURS",
    "MULTI_LINE",
    "ONE_LINE",
    "PHONE",
    "PHOTO_UPLOAD_FORM",
    "AddNoteRequest",
    "AssetIn",
    "AttemptOut",
    "ContributedNoteOut",
    "ContributionOut",
    "CreateShareLinkRequest",
    "CrewIn",
    "CrewOut",
    "CustomerIn",
    "DeliveryOut",
    "Email",
    "ErrorDetail",
    "ErrorOut",
    "IssueWorkOrderRequest",
    "IssuedWorkOrderOut",
    "LeaderReportOut",
    "LongText",
    "MissingItem",
    "Name",
    "NoteOut",
    "PartIn",
    "PartNo",
    "PartOut",
    "Phone",
    "PhotoOut",
    "PhotoUploaderOut",
    "ReadingIn",
    "ReadingOut",
    "RegisterWebhookRequest",
    "RenditionState",
    "ReportOut",
    "ReportPhotoOut",
    "RequiredText",
    "RevisionOut",
    "ServerReportOut",
    "ShareLinkOut",
    "ShareLinkState",
    "ShareLinkSummary",
    "ShortText",
    "SiteIn",
    "Strict",
    "SubmitReportRequest",
    "TimelineEntryOut",
    "Title",
    "Unit",
    "UserId",
    "ValidationIssue",
    "WebhookOut",
    "WorkOrderOut",
    "WorkOrderStatus",
    "WorkOrderSummary",
]
