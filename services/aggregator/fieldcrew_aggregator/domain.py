"""The aggregator's rule: fold every event of a work order into its progress and compile the
server report once the leader's report is in and every crew member (leader included) has
uploaded at least ``min_photos_per_member`` photos.

Pure and order-independent: events may arrive in any order and redelivered ones change
nothing; the compiled report depends only on the set of events, never on their order. A photo
that arrives after compilation makes a new revision, not a second report.

Progress is a plain JSON-able dict so that the projection can store it as one JSON document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fieldcrew_shared.events import (
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    PhotoUploaded,
    ServerReportCompiled,
    WorkOrderIssued,
)

Progress = dict[str, Any]


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
    }


def evolve(progress: Progress, event: Event, recorded_at: datetime) -> Progress:
    """Fold one event in (first write wins, so a redelivered event changes nothing)."""
    fold(progress, event, recorded_at)
    return progress


def fold(progress: Progress, event: Event, recorded_at: datetime) -> bool:
    """:func:`evolve` in place; True when the event changed what a report is compiled from
    (work order, notes, report, photos), so that only then the rule needs checking again."""
    if isinstance(event, WorkOrderIssued):
        if progress["work_order"] is not None:
            return False
        progress["work_order"] = {**event.model_dump(mode="json"), "issued_at": _at(recorded_at)}
    elif isinstance(event, MemberNoteAdded):
        note_id = str(event.note_id)
        if note_id in progress["notes"]:
            return False
        progress["notes"][note_id] = {
            **event.model_dump(mode="json"),
            "recorded_at": _at(recorded_at),
        }
    elif isinstance(event, LeaderReportSubmitted):
        if progress["report"] is not None:
            return False
        progress["report"] = {**event.model_dump(mode="json"), "submitted_at": _at(recorded_at)}
    elif isinstance(event, PhotoUploaded):
        return _add_photo(progress, event, recorded_at)
    elif isinstance(event, ServerReportCompiled):
        progress["published_revision"] = max(progress["published_revision"], event.revision)
        return False
    else:
        return False
    return True


def copy_progress(progress: Progress) -> Progress:
    """A copy that :func:`fold` and :func:`recompile` can change without changing
    ``progress``. It shares only what they never change in place: the work order, notes,
    report, compiled report and each photo's description are replaced whole or not at all;
    the notes and photos maps and each photo's uploaders are added to, so they are copied."""
    photos = {sha: {**photo, "uploaders": dict(photo["uploaders"])}
              for sha, photo in progress["photos"].items()}  # fmt: skip
    return {**progress, "notes": dict(progress["notes"]), "photos": photos}


def _at(recorded_at: datetime) -> str:
    return recorded_at.isoformat()


def _add_photo(progress: Progress, event: PhotoUploaded, recorded_at: datetime) -> bool:
    photo = progress["photos"].get(event.sha256)
    if photo is None:
        data = event.model_dump(mode="json", exclude={"uploader", "uploader_role", "duplicate"})
        photo = progress["photos"][event.sha256] = {**data, "uploaders": {}}
    elif event.uploader in photo["uploaders"]:
        return False
    at = _at(recorded_at)
    photo["uploaders"][event.uploader] = {"role": event.uploader_role, "uploaded_at": at}
    return True


def crew_of(progress: Progress) -> list[str]:
    wo = progress["work_order"]
    if wo is None:
        return []
    crew = wo["crew"]
    return [crew["leader"], *[m for m in crew["members"] if m != crew["leader"]]]


def photo_counts(progress: Progress) -> dict[str, int]:
    """Distinct images each crew member uploaded."""
    counts = dict.fromkeys(crew_of(progress), 0)
    for photo in progress["photos"].values():
        for user in photo["uploaders"]:
            if user in counts:
                counts[user] += 1
    return counts


def missing(progress: Progress) -> list[dict[str, Any]]:
    """What still keeps the report from being complete, in a fixed order."""
    wo = progress["work_order"]
    if wo is None:
        return [{"kind": "work_order", "detail": "the work order has not arrived yet"}]
    out: list[dict[str, Any]] = []
    if progress["report"] is None:
        out.append({"kind": "leader_report", "who": wo["crew"]["leader"]})
    need = wo["min_photos_per_member"]
    for user, have in photo_counts(progress).items():
        if have < need:
            out.append({"kind": "photos", "who": user, "have": have, "need": need})
    if progress["report"] is not None:
        merged = progress["report"]["merged_note_ids"]
        not_arrived = [n for n in merged if n not in progress["notes"]]
        if not_arrived:  # events can arrive in any order; the report needs its notes
            out.append({"kind": "merged_notes", "note_ids": not_arrived})
        merged_ids = set(merged)
        left_out = sorted(n for n in progress["notes"] if n not in merged_ids)
        if left_out:
            out.append({"kind": "notes_not_merged", "note_ids": left_out})
    return out


def status(progress: Progress) -> str:
    if progress["compiled"] is not None:
        return "completed"
    return "report_submitted" if progress["report"] is not None else "issued"


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
    if progress["compiled"] is None and not is_complete(progress):
        return False
    body = compile_report(progress)
    if body == progress["compiled"]:
        return False
    progress["compiled"] = body
    progress["revision"] += 1
    return True


def compile_report(progress: Progress) -> dict[str, Any]:
    """The server report: the work order, the leader's consolidated report, each crew member's
    contribution, every photo once with its provenance, and what is missing."""
    wo, report = progress["work_order"], progress["report"]
    notes = sorted(progress["notes"].values(), key=lambda n: (n["recorded_at"], n["note_id"]))
    merged = set(report["merged_note_ids"]) if report else set()
    photos = [_photo_entry(p) for p in progress["photos"].values()]
    photos.sort(key=lambda p: (p["uploaders"][0]["uploaded_at"], p["sha256"]))
    times = [wo["issued_at"], *(n["recorded_at"] for n in notes)]
    times += [u["uploaded_at"] for p in photos for u in p["uploaders"]]
    if report:
        times.append(report["submitted_at"])
    return {
        "work_order_id": progress["work_order_id"],
        "work_order": wo,
        "leader_report": report,
        "contributions": _contributions(progress, notes, merged, photos),
        "photos": photos,
        "missing": missing(progress),
        "compiled_at": max(times),
    }


def _photo_entry(photo: dict[str, Any]) -> dict[str, Any]:
    uploaders = [{"user": u, **v} for u, v in photo["uploaders"].items()]
    uploaders.sort(key=lambda u: (u["uploaded_at"], u["user"]))
    return {**{k: v for k, v in photo.items() if k != "uploaders"}, "uploaders": uploaders}


def _contributions(
    progress: Progress, notes: list[dict[str, Any]], merged: set[str], photos: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each crew member's contribution, grouping notes and photos by person in one pass."""
    notes_by: dict[str, list[dict[str, Any]]] = {}
    for n in notes:
        notes_by.setdefault(n["author"], []).append(n)
    photos_by: dict[str, list[str]] = {}
    for p in photos:
        for u in p["uploaders"]:
            photos_by.setdefault(u["user"], []).append(p["photo_id"])
    leader = progress["work_order"]["crew"]["leader"]
    return [
        _contribution(user, leader, notes_by.get(user, []), merged, photos_by.get(user, []))
        for user in crew_of(progress)
    ]


def _contribution(
    user: str, leader: str, own: list[dict[str, Any]], merged: set[str], photo_ids: list[str]
) -> dict[str, Any]:
    """One crew member's notes (in report order) and the ids of the photos they uploaded."""
    return {
        "user": user,
        "role": "leader" if user == leader else "member",
        "notes": [
            {k: v for k, v in n.items() if k != "work_order_id"}
            | {"merged": n["note_id"] in merged}
            for n in own
        ],
        "photo_ids": photo_ids,
    }


def _structured(value: Any, key: str) -> Any:
    """A site or asset of a progress document folded before structured work orders (plain
    text, "" for none) in today's shape; a rebuild rewrites such documents."""
    if isinstance(value, str):
        return {key: value} if value else None
    return value


def summary(progress: Progress) -> dict[str, Any]:
    """The work order's status view: crew, counts, what is still missing."""
    wo = progress["work_order"] or {}
    return {
        "id": progress["work_order_id"],
        "title": wo.get("title"),
        "site": _structured(wo.get("site"), "name"),
        "asset": _structured(wo.get("asset"), "id"),
        "customer": wo.get("customer"),
        "priority": wo.get("priority"),
        "due_at": wo.get("due_at"),
        "crew": wo.get("crew"),
        "min_photos_per_member": wo.get("min_photos_per_member"),
        "issued_at": wo.get("issued_at"),
        "status": status(progress),
        "notes": len(progress["notes"]),
        "photos": len(progress["photos"]),
        "photos_by_member": photo_counts(progress),
        "report_submitted": progress["report"] is not None,
        "revision": progress["revision"],
        "missing": missing(progress),
    }
