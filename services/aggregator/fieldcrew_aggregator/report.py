"""The server report compiled from a work order's progress (pure): the work order, the leader's
report and its versions, the report lines (identical notes merged, every author credited) and
how much they saved, each person's contribution, every photo once with its provenance, late
notes, and what is missing."""

from __future__ import annotations

from typing import Any

Progress = dict[str, Any]


def current_crew(progress: Progress) -> dict[str, Any] | None:
    """``{leader, members}`` after the last crew change; None before the work order arrived."""
    changes = progress.get("crew_changes") or []
    if changes:
        crew: dict[str, Any] = changes[-1]["crew"]
        return crew
    wo = progress["work_order"]
    return wo["crew"] if wo is not None else None


def crew_of(progress: Progress) -> list[str]:
    """The current crew, leader first."""
    crew = current_crew(progress)
    if crew is None:
        return []
    return [crew["leader"], *[m for m in crew["members"] if m != crew["leader"]]]


def photo_counts(progress: Progress) -> dict[str, int]:
    """Distinct images each member of the current crew uploaded."""
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
        out.append({"kind": "leader_report", "who": crew_of(progress)[0]})
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
        left_out = sorted(
            n
            for n, note in progress["notes"].items()
            if n not in merged_ids and not note.get("after_report")
        )
        if left_out:
            out.append({"kind": "notes_not_merged", "note_ids": left_out})
    return out


def compile_report(progress: Progress) -> dict[str, Any]:
    """The server report of the progress as it is."""
    wo, report = progress["work_order"], progress["report"]
    notes = sorted(progress["notes"].values(), key=lambda n: (n["recorded_at"], n["note_id"]))
    merged = set(report["merged_note_ids"]) if report else set()
    photos = [_photo_entry(p) for p in progress["photos"].values()]
    photos.sort(key=lambda p: (p["uploaders"][0]["uploaded_at"], p["sha256"]))
    lines = _lines(progress)
    return {
        "work_order_id": progress["work_order_id"],
        "work_order": wo,
        "crew": current_crew(progress),
        "crew_changes": progress.get("crew_changes", []),
        "leader_report": report,
        "report_version": report.get("report_version", 1) if report else 0,
        "report_versions": _versions(progress),
        "lines": lines,
        "deduplicated": {
            "member_submissions": len(merged),
            "report_lines": len(lines),
            "photo_uploads": sum(len(p["uploaders"]) for p in photos),
            "photos": len(photos),
        },
        "contributions": _contributions(progress, notes, merged, photos),
        "photos": photos,
        "after_report": [
            _note(n) for n in notes if n.get("after_report") and n["note_id"] not in merged
        ],
        "cancelled": progress.get("cancelled"),
        "missing": missing(progress),
        "compiled_at": _latest(progress, notes, photos),
    }


def _late(note: dict[str, Any], merged: set[str]) -> bool:
    """A late note the current report does not merge."""
    return bool(note.get("after_report")) and note["note_id"] not in merged


def _latest(progress: Progress, notes: list[dict[str, Any]], photos: list[dict[str, Any]]) -> str:
    """When the newest thing the report holds was recorded: the report's content depends on
    the events only, not on when it was compiled."""
    times = [progress["work_order"]["issued_at"], *(n["recorded_at"] for n in notes)]
    times += [u["uploaded_at"] for p in photos for u in p["uploaders"]]
    times += [r["submitted_at"] for r in progress.get("reports", {}).values()]
    if progress["report"]:
        times.append(progress["report"]["submitted_at"])
    times += [c["at"] for c in progress.get("crew_changes", [])]
    times += [r["at"] for r in progress.get("rejections", [])]
    if progress.get("cancelled"):
        times.append(progress["cancelled"]["at"])
    return str(max(times))


def _versions(progress: Progress) -> list[dict[str, Any]]:
    """Every version of the leader's report, each with its rejection if it had one."""
    rejected = {r["report_version"]: r for r in progress.get("rejections", [])}
    reports = progress.get("reports") or {}
    if not reports and progress["report"] is not None:
        reports = {"1": progress["report"]}
    return [
        {
            "version": int(v),
            "report_id": r["report_id"],
            "leader": r["leader"],
            "submitted_at": r["submitted_at"],
            "rejection": rejected.get(int(v)),
        }
        for v, r in sorted(reports.items(), key=lambda item: int(item[0]))
    ]


def _lines(progress: Progress) -> list[dict[str, Any]]:
    """The report's lines: the notes that say the same (same text, same parts), once, crediting
    every author. A report from before lines were recorded has a line per merged note."""
    report = progress["report"]
    if report is None:
        return []
    groups = [line["note_ids"] for line in report.get("lines") or []]
    groups = groups or [[n] for n in report["merged_note_ids"]]
    out = []
    for ids in groups:
        notes = [progress["notes"][i] for i in ids if i in progress["notes"]]
        if not notes:
            continue  # not arrived yet: listed as missing
        first = notes[0]
        out.append(
            {
                "findings": first["findings"],
                "actions": first["actions"],
                "parts": first["parts"],
                "readings": first.get("readings", []),  # none in notes folded before v2
                "labour_minutes": sum(n["labour_minutes"] for n in notes),
                "note_ids": [n["note_id"] for n in notes],
                "credited": list(dict.fromkeys(n["author"] for n in notes)),
            }
        )
    return out


def _note(note: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in note.items() if k != "work_order_id"}


def _photo_entry(photo: dict[str, Any]) -> dict[str, Any]:
    uploaders = [{"user": u, **v} for u, v in photo["uploaders"].items()]
    uploaders.sort(key=lambda u: (u["uploaded_at"], u["user"]))
    return {**{k: v for k, v in photo.items() if k != "uploaders"}, "uploaders": uploaders}


def _contributions(
    progress: Progress, notes: list[dict[str, Any]], merged: set[str], photos: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each person's contribution: the current crew, then anyone a crew change took off it who
    had added something (credited as ``former``)."""
    notes_by: dict[str, list[dict[str, Any]]] = {}
    for n in notes:
        notes_by.setdefault(n["author"], []).append(n)
    photos_by: dict[str, list[str]] = {}
    for p in photos:
        for u in p["uploaders"]:
            photos_by.setdefault(u["user"], []).append(p["photo_id"])
    crew = crew_of(progress)
    former = [u for u in dict.fromkeys([*notes_by, *photos_by]) if u not in crew]
    return [
        {
            "user": user,
            "role": "former" if user in former else "leader" if user == crew[0] else "member",
            "notes": [
                _note(n) | {"merged": n["note_id"] in merged} for n in notes_by.get(user, [])
            ],
            "photo_ids": photos_by.get(user, []),
        }
        for user in [*crew, *sorted(former)]
    ]
