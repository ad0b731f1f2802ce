"""How a server report's values read for a customer, in the PDF and on the share page alike.

A work order's site, asset and customer are text in the first events and structured
(``{name, address, ...}``) in later ones: both read the same here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

OUTCOMES = {
    "resolved": "Resolved",
    "partially_resolved": "Partially resolved",
    "not_resolved": "Not resolved",
    "follow_up_required": "Follow-up required",
}
NOT_GIVEN = "—"


def when(value: str | None) -> str:
    """An ISO time as ``2026-11-02 10:20 UTC`` (its own offset when not UTC)."""
    if not value:
        return NOT_GIVEN
    at = datetime.fromisoformat(value)
    offset = at.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{at:%Y-%m-%d %H:%M} {zone}"


def _joined(value: object, keys: tuple[str, ...]) -> str:
    if isinstance(value, Mapping):
        parts = [str(value[k]) for k in keys if value.get(k) not in (None, "")]
        return ", ".join(parts) or NOT_GIVEN
    return str(value) if value else NOT_GIVEN


def place(site: object) -> str:
    """A site: its name and address (and position when given)."""
    text = _joined(site, ("name", "address"))
    if isinstance(site, Mapping) and site.get("lat") is not None and site.get("lon") is not None:
        text += f" ({site['lat']:.5f}, {site['lon']:.5f})"
    return text


def asset(value: object) -> str:
    """An asset: its id, model and serial number."""
    if isinstance(value, Mapping):
        text = str(value.get("id") or NOT_GIVEN)
        extra = [
            f"model {value['model']}" if value.get("model") else "",
            f"serial {value['serial']}" if value.get("serial") else "",
        ]
        return ", ".join([text, *filter(None, extra)])
    return str(value) if value else NOT_GIVEN


def customer(value: object) -> str:
    return _joined(value, ("name", "phone", "email"))


def outcome(value: str) -> str:
    return OUTCOMES.get(value, value)


def position(location: Mapping[str, float] | None) -> str:
    if not location:
        return "not recorded"
    return f"{location['lat']:.6f}, {location['lon']:.6f}"


def provenance(number: int, photo: Mapping[str, Any]) -> list[tuple[str, object]]:
    """The facts printed beside a photo: who sent it, when and where it was taken, its hash."""
    uploaders = "; ".join(
        f"{u['user']} ({u['role']}), {when(u['uploaded_at'])}" for u in photo["uploaders"]
    )
    rows: list[tuple[str, object]] = [
        ("Photo", f"{number}" + (f": {photo['caption']}" if photo.get("caption") else "")),
        ("Uploaded by", uploaders),
        ("Taken", when(photo.get("captured_at")) if photo.get("captured_at") else "not recorded"),
        ("Place", position(photo.get("location"))),
        ("Phase", photo.get("phase") or NOT_GIVEN),
        ("Size", f"{photo['width']} x {photo['height']} px, {photo['size']:,} bytes"),
        ("sha256", photo["sha256"]),
    ]
    return rows


def missing(item: Mapping[str, Any]) -> str:
    """One thing the report still lacks, in a sentence."""
    kind = item.get("kind")
    if kind == "photos":
        return f"photos from {item['who']}: {item['have']} of {item['need']}"
    if kind == "leader_report":
        return f"the leader's report ({item['who']})"
    if kind == "notes_not_merged":
        return f"{len(item.get('note_ids') or [])} note(s) not merged into the report"
    if kind == "merged_notes":
        return f"{len(item.get('note_ids') or [])} merged note(s) not arrived yet"
    return str(item.get("detail") or kind)
