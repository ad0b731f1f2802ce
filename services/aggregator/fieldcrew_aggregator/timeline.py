"""A work order's timeline: every event of it in the log, in the order recorded, with who
acted, when the server recorded it and when it happened on the device.

Pure: stored events in, entries out. An entry names what the event is about (ids, counts,
a revision), never the text of notes or reports: the timeline is shown to the whole crew,
and a member may not read another's notes. Share-link activity is for the office only.
"""

from __future__ import annotations

from typing import Any

from fieldcrew_shared.eventstore import Recorded

# What an entry repeats of its event's data: identifiers and small facts, no free text.
SHOWN = (
    "note_id", "report_id", "photo_id", "sha256", "revision", "duplicate", "phase",
    "outcome", "link_id", "view", "expires_at", "leader", "members", "version",
)  # fmt: skip
OFFICE_ONLY_CONTEXTS = frozenset({"documents"})


def entry(record: Recorded) -> dict[str, Any]:
    """One event as a timeline entry."""
    envelope = record.envelope
    data = record.event.model_dump(mode="json", include={*SHOWN, "parts", "crew"})
    facts = {k: data[k] for k in SHOWN if data.get(k) not in (None, "", [])}
    if "parts" in data:
        facts["parts"] = len(data["parts"])
    if "crew" in data and isinstance(data["crew"], dict):
        facts["leader"] = data["crew"].get("leader")
        facts["members"] = list(data["crew"].get("members", []))
    return {
        "seq": record.seq,
        "type": record.event.name,
        "context": record.event.context,
        "actor": envelope.actor,
        "actor_role": envelope.actorrole,
        "recorded_at": envelope.recorded_at,
        "occurred_at": envelope.occurred_at,
        "facts": facts,
    }


def timeline(records: list[Recorded], office: bool) -> list[dict[str, Any]]:
    """The entries a caller sees: every event for the office, the crew's work for the crew."""
    shown = [r for r in records if office or r.event.context not in OFFICE_ONLY_CONTEXTS]
    return [entry(r) for r in sorted(shown, key=lambda r: r.seq)]
