"""What changed between server report revisions, and the timeline of a work order: pure
functions over report documents and stored events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from fieldcrew_aggregator.changes import changes
from fieldcrew_aggregator.domain import compile_report, empty_progress, evolve
from fieldcrew_aggregator.timeline import timeline
from fieldcrew_shared.envelope import Metadata, seal
from fieldcrew_shared.events import Event, SharedView, ShareLinkViewed
from fieldcrew_shared.eventstore import Recorded
from fieldcrew_shared.fingerprint import canonical_json, fingerprint

from tests.unit.factories import at, issued, note, photo, report

WO = uuid4()


def compiled(*events: Event) -> dict[str, Any]:
    progress = empty_progress(str(WO))
    for n, event in enumerate(events):
        evolve(progress, event, at(n))
    return {"revision": 1, **compile_report(progress)}


def test_the_first_revision_and_a_late_photo() -> None:
    base = [
        issued(WO, "lead", ("m1",)),
        note(WO, "lead"),
        photo(WO, "lead", "aa" * 32),
        photo(WO, "m1", "bb" * 32),
        report(WO, "lead", ()),
    ]
    first = compiled(*base)
    second = compiled(*base, photo(WO, "m1", "cc" * 32))
    assert changes(None, first) == ["first compiled"]
    said = changes(first, second)
    assert len(said) == 1 and said[0].startswith("photo ") and said[0].endswith("added by m1")
    assert changes(second, second) == ["no visible change"]


def test_a_second_uploader_a_new_note_and_what_is_no_longer_missing() -> None:
    base = [issued(WO, "lead", ("m1",)), photo(WO, "lead", "aa" * 32)]
    before = compiled(*base)
    after = compiled(*base, photo(WO, "m1", "aa" * 32), note(WO, "m1"))
    said = changes(before, after)
    assert any(s.endswith("also sent by m1") for s in said)
    assert any(s.startswith("note ") and "by m1 added (not merged)" in s for s in said)
    assert "no longer missing: photos from m1" in said


def test_the_fingerprint_is_of_canonical_json() -> None:
    report_doc = {"b": "ü", "a": [1, {"z": None, "y": 1.5}]}
    assert canonical_json(report_doc) == '{"a":[1,{"y":1.5,"z":null}],"b":"ü"}'.encode()
    assert fingerprint(report_doc) == fingerprint(dict(reversed(report_doc.items())))
    assert fingerprint(report_doc) != fingerprint({**report_doc, "b": "u"})


def recorded(seq: int, event: Event, actor: str, late: timedelta = timedelta(0)) -> Recorded:
    meta = Metadata(
        actor=actor, actorrole="technician", correlationid="c", occurred_at=at(seq) - late
    )
    envelope = seal(event, meta, source=f"fieldcrew/{event.context}")
    return Recorded(seq, envelope, event)


def test_the_timeline_says_who_when_and_what_without_the_notes_text() -> None:
    events = [
        recorded(3, note(WO, "m1", parts=(("S-1", 1),)), "m1", late=timedelta(hours=2)),
        recorded(1, issued(WO), "disp"),
        recorded(5, ShareLinkViewed(work_order_id=WO, link_id=uuid4(), view=SharedView.pdf), "x"),
    ]
    office = timeline(events, office=True)
    assert [e["type"] for e in office] == ["WorkOrderIssued", "MemberNoteAdded", "ShareLinkViewed"]
    added = office[1]
    assert added["actor"] == "m1" and added["occurred_at"] == at(3) - timedelta(hours=2)
    assert added["facts"]["parts"] == 1 and "findings" not in added["facts"]
    assert office[0]["facts"]["leader"] == "lead"
    crew = timeline(events, office=False)
    assert [e["type"] for e in crew] == ["WorkOrderIssued", "MemberNoteAdded"]
