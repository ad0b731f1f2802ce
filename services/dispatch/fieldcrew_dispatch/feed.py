"""What a live event shows to whom (pure): the read rules of ADR 0010 applied to each event as
it is recorded. A caller gets an event whole when they may read what it holds, a summary
(ids and who, ``redacted: true``) when they may only know it happened, nothing otherwise.

- Notes: the leader reads all, a member their own; anyone else gets a summary (the office
  reads notes merged in the report, not one by one).
- The leader's report and photos (their uploads and their copies being made): the crew and
  the dispatcher (admin); an analyst a summary.
- Server report revisions: a summary for everyone (the report is read with its own call); the
  parts a large report travels in are not shown.
- Share-link activity: the dispatcher (admin) only.
- Everything else (issue, start, crew changes, rejection, cancellation): whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fieldcrew_shared.events import (
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoRenditionFailed,
    PhotoRenditionsMade,
    PhotoUploaded,
    ServerReportCompiled,
    ServerReportPart,
)
from fieldcrew_shared.records import Recorded

DISPATCHERS = frozenset({"dispatcher", "admin"})
OFFICE = frozenset({"dispatcher", "admin", "analyst"})
SUMMARY: dict[type, tuple[str, ...]] = {
    MemberNoteAdded: ("note_id", "author", "after_report"),
    LeaderReportSubmitted: ("report_id", "report_version", "leader"),
    PhotoUploaded: ("photo_id", "uploader", "duplicate"),
    PhotoRenditionsMade: ("photo_id",),
    PhotoRenditionFailed: ("photo_id",),
    ServerReportCompiled: ("revision",),
}
# where the bytes are stored is nobody's business
HIDDEN = frozenset({"object_key", "served_key", "thumbnail_key"})
PHOTOS = LeaderReportSubmitted | PhotoUploaded | PhotoRenditionsMade | PhotoRenditionFailed


@dataclass(frozen=True)
class Viewer:
    """Who watches: their id, their token's role, and their place on the crew (None: not on
    it, or watching the office's feed)."""

    user: str
    role: str
    crew_role: str | None = None

    @property
    def on_crew(self) -> bool:
        return self.crew_role is not None and self.role == "technician"


def shaped(record: Recorded, viewer: Viewer) -> dict[str, Any] | None:
    """The event as ``viewer`` may see it, or None."""
    event = record.event
    if event.context == "documents" and viewer.role not in DISPATCHERS:
        return None
    if isinstance(event, ServerReportPart):  # a large report's transport, not news
        return None
    data = event.model_dump(mode="json", exclude=set(HIDDEN))
    whole = _whole(record, viewer)
    if not whole:
        data = {k: data[k] for k in SUMMARY.get(type(event), ()) if k in data}
    if isinstance(event, ServerReportCompiled):
        data |= {"report_version": event.report_version, "cancelled": event.cancelled}
    envelope = record.envelope
    return {
        "seq": record.seq,
        "type": event.name,
        "work_order_id": str(event.work_order_id),
        "actor": envelope.actor,
        "actor_role": envelope.actorrole,
        "recorded_at": envelope.recorded_at.isoformat(),
        "occurred_at": envelope.occurred_at.isoformat(),
        "data": data,
        "redacted": not whole,
    }


def _whole(record: Recorded, viewer: Viewer) -> bool:
    event = record.event
    if isinstance(event, MemberNoteAdded):
        return viewer.on_crew and (viewer.crew_role == "leader" or event.author == viewer.user)
    if isinstance(event, PHOTOS):
        return viewer.on_crew or viewer.role in DISPATCHERS
    return not isinstance(event, ServerReportCompiled)
