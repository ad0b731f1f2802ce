"""The aggregator's rule: fold every event of a work order into its progress and compile the
server report once the leader's report is in and every member of the current crew (leader
included) has uploaded at least ``min_photos_per_member`` photos.

Pure. A redelivered event changes nothing, and the notes, photos and report the crew sends
may arrive in any order: the compiled report depends only on their set. A change after
compilation (a later photo, a late note) makes a new revision, not a second report. Lifecycle
events apply in log order to what came before them (docs/design.md §12, ADR 0035): a rejected
report is frozen until the next version compiles; a cancellation marks a compiled report in
one last revision, and nothing is compiled after it.

Progress is a plain JSON-able dict so that the projection can store it as one JSON document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fieldcrew_shared.events import (
    CrewChanged,
    Event,
    LeaderReportRejected,
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoUploaded,
    ServerReportCompiled,
    WorkOrderCancelled,
    WorkOrderIssued,
    WorkOrderStarted,
)
from fieldcrew_shared.lifecycle import Status, is_overdue, status_of

from fieldcrew_aggregator.report import (
    compile_report,
    crew_of,
    current_crew,
    missing,
    photo_counts,
)

__all__ = ["compile_report", "crew_of", "current_crew", "missing", "photo_counts"]

Progress = dict[str, Any]

LIFECYCLE: dict[str, Any] = {
    "started": None,
    "cancelled": None,
    "crew_changes": [],
    "reports": {},
    "rejections": [],
}
"""Keys a progress document folded before the lifecycle lacks, and what they are then."""


def empty_progress(work_order_id: str) -> Progress:
    return {
        "work_order_id": work_order_id,
        "work_order": None,
        "notes": {},
        "report": None,
        "photos": {},
        "revision": 0,
        "published_revision": 0,
        "compiled": None,
        **LIFECYCLE,
    }


def evolve(progress: Progress, event: Event, recorded_at: datetime) -> Progress:
    """Fold one event in (first write wins, so a redelivered event changes nothing)."""
    fold(progress, event, recorded_at)
    return progress


def fold(progress: Progress, event: Event, recorded_at: datetime) -> bool:
    """:func:`evolve` in place; True when the event changed what a report is compiled from,
    so that only then the rule needs checking again."""
    for key, default in LIFECYCLE.items():
        progress.setdefault(key, default)
    at = recorded_at.isoformat()
    if isinstance(event, WorkOrderIssued):
        if progress["work_order"] is not None:
            return False
        progress["work_order"] = {**event.model_dump(mode="json"), "issued_at": at}
    elif isinstance(event, MemberNoteAdded):
        note_id = str(event.note_id)
        if note_id in progress["notes"]:
            return False
        progress["notes"][note_id] = {**event.model_dump(mode="json"), "recorded_at": at}
    elif isinstance(event, LeaderReportSubmitted):
        return _add_report(progress, event, at)
    elif isinstance(event, PhotoUploaded):
        return _add_photo(progress, event, at)
    elif isinstance(event, ServerReportCompiled):
        progress["published_revision"] = max(progress["published_revision"], event.revision)
        return False
    else:
        return _fold_lifecycle(progress, event, at)
    return True


def _fold_lifecycle(progress: Progress, event: Event, at: str) -> bool:
    """Starts, crew changes, rejections and cancellations: each replaces what it changes
    (lists and maps are never changed in place, see :func:`copy_progress`)."""
    if isinstance(event, WorkOrderStarted) and progress["started"] is None:
        progress["started"] = {"by": event.started_by, "at": _iso(event.started_at) or at}
    elif isinstance(event, CrewChanged):
        if any(c["change"] == event.change for c in progress["crew_changes"]):
            return False
        change = {**event.model_dump(mode="json", include={"change", "previous", "crew"})}
        change |= {"by": event.changed_by, "at": at}
        progress["crew_changes"] = sorted([*progress["crew_changes"], change], key=_change)
    elif isinstance(event, LeaderReportRejected):
        if any(r["report_version"] == event.report_version for r in progress["rejections"]):
            return False
        rejection = {"report_version": event.report_version, "by": event.rejected_by, "at": at}
        rejection |= {"reason": event.reason}
        progress["rejections"] = [*progress["rejections"], rejection]
    elif isinstance(event, WorkOrderCancelled) and progress["cancelled"] is None:
        progress["cancelled"] = {"by": event.cancelled_by, "at": at, "reason": event.reason}
    else:
        return False
    return True


def _change(change: dict[str, Any]) -> int:
    return int(change["change"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _add_report(progress: Progress, event: LeaderReportSubmitted, at: str) -> bool:
    """Every version is kept; the newest is ``report``."""
    version = str(event.report_version)
    if version in progress["reports"]:
        return False
    report = {**event.model_dump(mode="json"), "submitted_at": at}
    progress["reports"] = {**progress["reports"], version: report}
    newest = progress["report"]
    if newest is None or newest.get("report_version", 1) < event.report_version:
        progress["report"] = report
    return True


def fold_history(work_order_id: str, history: Iterable[tuple[Event, datetime]]) -> Progress:
    """A work order's progress from its events (each with when it was recorded), folded in
    the order given with the rule checked after each, as the projection folds the log: the
    same events in the same order give the same revisions."""
    progress = empty_progress(work_order_id)
    for event, recorded_at in history:
        if fold(progress, event, recorded_at):
            recompile(progress)
    return progress


def copy_progress(progress: Progress) -> Progress:
    """A copy that :func:`fold` and :func:`recompile` can change without changing
    ``progress``. It shares only what they never change in place: the work order, notes,
    reports, lifecycle facts, compiled report and each photo's description are replaced whole
    or not at all; the notes and photos maps and each photo's uploaders are added to, so they
    are copied."""
    photos = {sha: {**photo, "uploaders": dict(photo["uploaders"])}
              for sha, photo in progress["photos"].items()}  # fmt: skip
    return {**progress, "notes": dict(progress["notes"]), "photos": photos}


def _add_photo(progress: Progress, event: PhotoUploaded, at: str) -> bool:
    photo = progress["photos"].get(event.sha256)
    if photo is None:
        data = event.model_dump(mode="json", exclude={"uploader", "uploader_role", "duplicate"})
        photo = progress["photos"][event.sha256] = {**data, "uploaders": {}}
    elif event.uploader in photo["uploaders"]:
        return False
    photo["uploaders"][event.uploader] = {"role": event.uploader_role, "uploaded_at": at}
    return True


def report_version(progress: Progress) -> int:
    report = progress["report"]
    return int(report.get("report_version", 1)) if report is not None else 0


def compiled_version(progress: Progress) -> int:
    compiled = progress["compiled"]
    if compiled is None:
        return 0
    return int(compiled.get("report_version", 1 if compiled.get("leader_report") else 0))


def status(progress: Progress) -> Status:
    rejections = progress.get("rejections", [])
    return status_of(
        cancelled=progress.get("cancelled") is not None,
        started=progress.get("started") is not None,
        report_version=report_version(progress),
        rejected_version=max((r["report_version"] for r in rejections), default=0),
        compiled_version=compiled_version(progress),
    )


def is_complete(progress: Progress) -> bool:
    """No work order, leader's report, photos or merged notes are missing (what
    :func:`missing` would list as blocking), checked without building that list."""
    wo, report = progress["work_order"], progress["report"]
    if wo is None or report is None:
        return False
    need = wo["min_photos_per_member"]
    if need > 0 and any(have < need for have in photo_counts(progress).values()):
        return False
    notes = progress["notes"]
    return all(n in notes for n in report["merged_note_ids"])


def recompile(progress: Progress) -> bool:
    """Compile (or revise) the server report when the rule holds and the content changed.
    Returns True when a new revision was made."""
    compiled = progress["compiled"]
    if progress.get("cancelled") is not None:
        if compiled is None or compiled.get("cancelled") is not None:
            return False  # never compiled, or already marked: nothing after a cancellation
    elif status(progress) == Status.rework:
        return False  # the rejected report stays as compiled until the next version is in
    elif _new_version(progress) and not is_complete(progress):
        return False  # a new report (version) compiles once it is complete
    body = compile_report(progress)
    if body == compiled:
        return False
    progress["compiled"] = body
    progress["revision"] += 1
    return True


def _new_version(progress: Progress) -> bool:
    """Nothing compiled yet, or compiled from an older version of the report."""
    return progress["compiled"] is None or compiled_version(progress) != report_version(progress)


def summary(progress: Progress, now: datetime) -> dict[str, Any]:
    """The work order's status view: crew, lifecycle, counts, what is still missing."""
    wo = progress["work_order"] or {}
    state = status(progress)
    due_at = wo.get("due_at")
    return {
        "id": progress["work_order_id"],
        "title": wo.get("title"),
        "site": _structured(wo.get("site"), "name"),
        "asset": _structured(wo.get("asset"), "id"),
        "customer": wo.get("customer"),
        "priority": wo.get("priority"),
        "due_at": due_at,
        "overdue": is_overdue(datetime.fromisoformat(due_at) if due_at else None, state, now),
        "crew": current_crew(progress),
        "min_photos_per_member": wo.get("min_photos_per_member"),
        "issued_at": wo.get("issued_at"),
        "status": state,
        "started": progress.get("started"),
        "cancelled": progress.get("cancelled"),
        "crew_changes": progress.get("crew_changes", []),
        "report_version": report_version(progress),
        "rejections": progress.get("rejections", []),
        "notes": len(progress["notes"]),
        "late_notes": sum(1 for n in progress["notes"].values() if n.get("after_report")),
        "photos": len(progress["photos"]),
        "photos_by_member": photo_counts(progress),
        "report_submitted": progress["report"] is not None,
        "revision": progress["revision"],
        "missing": missing(progress),
    }


def _structured(value: Any, key: str) -> Any:
    """A site or asset of a progress document folded before structured work orders (plain
    text, "" for none) in today's shape; a rebuild rewrites such documents."""
    if isinstance(value, str):
        return {key: value} if value else None
    return value
