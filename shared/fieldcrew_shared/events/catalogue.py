"""The catalogue: the current version of every event by CloudEvents ``type``, the upcasters
from each older version, and every version ever published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fieldcrew_shared.events.aggregator import (
    ServerReportCompiled,
    ServerReportCompiledV1,
    ServerReportPart,
    WebhookRegistered,
    server_report_compiled_v1_to_v2,
)
from fieldcrew_shared.events.base import Event
from fieldcrew_shared.events.dispatch import (
    CrewChanged,
    LeaderReportRejected,
    WorkOrderCancelled,
    WorkOrderIssued,
    WorkOrderIssuedV1,
    issued_v1_to_v2,
)
from fieldcrew_shared.events.documents import ShareLinkCreated, ShareLinkRevoked, ShareLinkViewed
from fieldcrew_shared.events.photos import PhotoRenditionFailed, PhotoRenditionsMade, PhotoUploaded
from fieldcrew_shared.events.team import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    MemberNoteAddedV1,
    WorkOrderStarted,
    note_v1_to_v2,
)

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
    WorkOrderIssuedV1.type_name(): issued_v1_to_v2,
    MemberNoteAddedV1.type_name(): note_v1_to_v2,
    ServerReportCompiledV1.type_name(): server_report_compiled_v1_to_v2,
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
