"""What changed between two revisions of a server report, in words a dispatcher reads.

Pure: two report documents in, sentences out; no I/O. The comparison is by identity (photo
ids, note ids, the kinds of missing items), so a change of order alone says nothing.
"""

from __future__ import annotations

from typing import Any

Report = dict[str, Any]
COMPARED = frozenset({"photos", "contributions", "leader_report", "missing", "work_order"})
# deduplicated: counts of what the photos and lines say already
IGNORED = frozenset({"revision", "compiled_at", "work_order_id", "deduplicated"})


def changes(previous: Report | None, current: Report) -> list[str]:
    """What ``current`` changed against ``previous`` (None: it is the first revision)."""
    if previous is None:
        return ["first compiled"]
    out = [
        *_photos(previous, current),
        *_notes(previous, current),
        *_leader_report(previous, current),
        *_work_order(previous, current),
        *_missing(previous, current),
    ]
    for key in sorted((previous.keys() | current.keys()) - COMPARED - IGNORED):
        if previous.get(key) != current.get(key):
            out.append(f"{key.replace('_', ' ')} changed")
    return out or ["no visible change"]


def _photos(previous: Report, current: Report) -> list[str]:
    before = {p["photo_id"]: p for p in previous.get("photos", [])}
    out = []
    for photo in current.get("photos", []):
        users = [u["user"] for u in photo.get("uploaders", [])]
        old = before.pop(photo["photo_id"], None)
        if old is None:
            out.append(f"photo {photo['photo_id'][:8]} added by {', '.join(users)}")
            continue
        credited = [u for u in users if u not in {o["user"] for o in old.get("uploaders", [])}]
        if credited:
            out.append(f"photo {photo['photo_id'][:8]} also sent by {', '.join(credited)}")
    out += [f"photo {photo_id[:8]} removed" for photo_id in before]
    return out


def _notes(previous: Report, current: Report) -> list[str]:
    def by_id(report: Report) -> dict[str, dict[str, Any]]:
        return {n["note_id"]: n for c in report.get("contributions", []) for n in c["notes"]}

    before, after = by_id(previous), by_id(current)
    out = []
    for note_id, note in after.items():
        old = before.get(note_id)
        if old is None:
            merged = "merged" if note.get("merged") else "not merged"
            out.append(f"note {note_id[:8]} by {note['author']} added ({merged})")
        elif old.get("merged") != note.get("merged"):
            out.append(f"note {note_id[:8]} {'merged' if note.get('merged') else 'unmerged'}")
    return out


def _leader_report(previous: Report, current: Report) -> list[str]:
    old, new = previous.get("leader_report"), current.get("leader_report")
    if old == new:
        return []
    if old is None:
        return ["the leader's report submitted"]
    if new is None:
        return ["the leader's report withdrawn"]
    fields = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return [f"the leader's report changed: {', '.join(f.replace('_', ' ') for f in fields)}"]


def _work_order(previous: Report, current: Report) -> list[str]:
    old, new = previous.get("work_order") or {}, current.get("work_order") or {}
    fields = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return [f"work order {f.replace('_', ' ')} changed" for f in fields]


def _missing(previous: Report, current: Report) -> list[str]:
    def keyed(report: Report) -> dict[tuple[str, str], dict[str, Any]]:
        return {(m["kind"], str(m.get("who") or "")): m for m in report.get("missing", [])}

    before, after = keyed(previous), keyed(current)
    out = []
    for key in before.keys() - after.keys():
        out.append(f"no longer missing: {_missing_words(before[key])}")
    for key in after.keys() - before.keys():
        out.append(f"now missing: {_missing_words(after[key])}")
    return sorted(out)


def _missing_words(item: dict[str, Any]) -> str:
    who = f" from {item['who']}" if item.get("who") else ""
    return f"{item['kind'].replace('_', ' ')}{who}"
