"""The aggregator's rule: compile when the leader's report and everyone's photos are in,
whatever the order; late photos make revisions; redeliveries change nothing."""

from __future__ import annotations

import copy
import random
from datetime import datetime
from uuid import UUID, uuid4

from fieldcrew_aggregator.domain import (
    Progress,
    copy_progress,
    empty_progress,
    evolve,
    missing,
    recompile,
    status,
    summary,
)
from fieldcrew_shared.events import (
    Crew,
    CrewChanged,
    Event,
    LeaderReportRejected,
    LeaderReportSubmitted,
    MemberNoteAdded,
    ReportLine,
    ServerReportCompiled,
    WorkOrderCancelled,
    WorkOrderStarted,
)

from tests.unit.factories import at, issued, note, photo, report

WO = uuid4()
CREW = ("lead", "m1", "m2", "m3")


def crew_flow() -> list[tuple[Event, datetime]]:
    """1 leader + 3 members: 4 notes, 1 report, 1 photo each, in stream order."""
    notes = [note(WO, who, parts=(("P-1", 1),)) for who in CREW]
    events: list[Event] = [issued(WO), *notes, report(WO, "lead", tuple(n.note_id for n in notes))]
    events += [
        photo(WO, who, sha=f"{i:064x}", role="leader" if who == "lead" else "member")
        for i, who in enumerate(CREW)
    ]
    return [(e, at(i)) for i, e in enumerate(events)]


def fold(stream: list[tuple[Event, datetime]]) -> Progress:
    progress = empty_progress(str(WO))
    for event, recorded_at in stream:
        evolve(progress, event, recorded_at)
        recompile(progress)
    return progress


def test_the_report_compiles_once_report_and_every_photo_are_in() -> None:
    stream = crew_flow()
    progress = fold(stream[:-1])
    assert progress["compiled"] is None
    assert missing(progress) == [{"kind": "photos", "who": "m3", "have": 0, "need": 1}]
    assert status(progress) == "report_submitted"
    progress = fold(stream)
    assert status(progress) == "completed" and progress["revision"] == 1
    report = progress["compiled"]
    assert [c["user"] for c in report["contributions"]] == list(CREW)
    assert all(len(c["notes"]) == 1 and c["notes"][0]["merged"] for c in report["contributions"])
    assert len(report["photos"]) == 4 and report["missing"] == []


def test_no_report_without_the_leaders_report() -> None:
    stream = [x for x in crew_flow() if x[0].name != "LeaderReportSubmitted"]
    progress = fold(stream)
    assert progress["compiled"] is None
    assert missing(progress)[0] == {"kind": "leader_report", "who": "lead"}


def test_any_order_gives_the_same_report_in_one_revision() -> None:
    stream = crew_flow()
    expected = fold(stream)["compiled"]
    rng = random.Random(7)
    for _ in range(50):
        shuffled = stream[:]
        rng.shuffle(shuffled)
        progress = fold(shuffled)
        assert progress["compiled"] == expected
        assert progress["revision"] == 1


def test_the_report_waits_for_the_notes_it_merges() -> None:
    stream = crew_flow()
    without_a_note = [x for x in stream if x is not stream[2]]
    progress = fold(without_a_note)
    assert progress["compiled"] is None
    assert missing(progress)[0]["kind"] == "merged_notes"
    assert fold([*without_a_note, stream[2]])["compiled"] == fold(stream)["compiled"]


def test_redelivered_events_change_nothing() -> None:
    stream = crew_flow()
    assert fold(stream + stream) == fold(stream)


def test_a_late_photo_makes_revision_two_not_a_second_report() -> None:
    stream = crew_flow()
    late = (photo(WO, "m2", sha="f" * 64), at(100))
    progress = fold([*stream, late])
    assert progress["revision"] == 2
    assert len(progress["compiled"]["photos"]) == 5
    assert summary(progress, at(200))["photos_by_member"]["m2"] == 2


def test_the_same_image_from_two_people_appears_once_crediting_both() -> None:
    stream = crew_flow()
    same = (photo(WO, "m1", sha=f"{0:064x}"), at(100))  # the leader's image, sent by m1 too
    progress = fold([*stream, same, same])
    photos = progress["compiled"]["photos"]
    assert len(photos) == 4
    assert [u["user"] for u in photos[0]["uploaders"]] == ["lead", "m1"]


def test_min_photos_per_member_is_honoured() -> None:
    stream = crew_flow()
    stream[0] = (issued(WO, min_photos=2), stream[0][1])
    progress = fold(stream)
    assert progress["compiled"] is None
    extra = [(photo(WO, who, sha=f"{i + 10:064x}"), at(50 + i)) for i, who in enumerate(CREW)]
    assert fold(stream + extra)["revision"] == 1


def test_notes_the_leader_left_out_are_listed_as_missing() -> None:
    stream = crew_flow()
    extra_note = note(WO, "m3")
    progress = fold([stream[0], (extra_note, at(1)), *stream[1:]])
    assert {"kind": "notes_not_merged", "note_ids": [str(extra_note.note_id)]} in (
        progress["compiled"]["missing"]
    )


def test_folding_into_a_copy_leaves_the_original_as_it_was() -> None:
    """A rebuild's replay folds each transaction into copies of the progress it holds, so
    that a transaction rolled back leaves what was held untouched (projection, ADR 0016)."""
    stream = crew_flow()
    stream += [
        (note(WO, "m1"), at(50)),
        (photo(WO, "m1", sha=f"{0:064x}"), at(51)),  # a second uploader of a known photo
        (photo(WO, "m2", sha="f" * 64), at(52)),  # a new photo
        (ServerReportCompiled(work_order_id=WO, revision=3), at(53)),
    ]
    whole = fold(stream)
    assert whole["revision"] == 4 and whole["published_revision"] == 3  # each of the 3 revises
    for k in range(len(stream)):
        before = fold(stream[:k])
        kept = copy.deepcopy(before)
        after = copy_progress(before)
        for event, recorded_at in stream[k:]:
            evolve(after, event, recorded_at)
            recompile(after)
        assert before == kept, f"folding events {k}.. into the copy changed the original"
        assert after == whole


# -- the lifecycle (docs/design.md §12) --


def rejected(version: int = 1) -> LeaderReportRejected:
    return LeaderReportRejected(
        work_order_id=WO, report_id=uuid4(), report_version=version, reason="redo", rejected_by="d"
    )


def second_report(note_ids: tuple[UUID, ...]) -> LeaderReportSubmitted:
    return report(WO, "lead", note_ids).model_copy(update={"report_version": 2})


def test_a_rejected_report_is_frozen_until_version_two_compiles_a_new_revision() -> None:
    stream = crew_flow()
    first = fold(stream)
    assert first["revision"] == 1
    reworked = [*stream, (rejected(), at(20)), (photo(WO, "m1", sha="e" * 64), at(21))]
    progress = fold(reworked)
    assert status(progress) == "rework" and progress["revision"] == 1  # no revision in rework
    fresh = note(WO, "m2")
    notes = tuple(e.note_id for e, _ in stream if isinstance(e, MemberNoteAdded))
    progress = fold([*reworked, (fresh, at(22)), (second_report((*notes, fresh.note_id)), at(23))])
    assert status(progress) == "completed" and progress["revision"] == 2
    compiled = progress["compiled"]
    assert compiled["report_version"] == 2 and compiled["leader_report"]["report_version"] == 2
    versions = compiled["report_versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["rejection"]["reason"] == "redo" and versions[1]["rejection"] is None


def test_a_cancellation_marks_a_compiled_report_in_one_last_revision() -> None:
    stream = [*crew_flow(), (rejected(), at(20))]
    cancelled = WorkOrderCancelled(work_order_id=WO, reason="customer left", cancelled_by="d")
    progress = fold([*stream, (cancelled, at(21))])
    assert status(progress) == "cancelled" and progress["revision"] == 2
    assert progress["compiled"]["cancelled"] == {
        "by": "d", "at": at(21).isoformat(), "reason": "customer left"
    }  # fmt: skip
    late = fold([*stream, (cancelled, at(21)), (photo(WO, "m1", sha="e" * 64), at(22))])
    assert late["revision"] == 2  # nothing is compiled after a cancellation


def test_a_work_order_cancelled_before_its_report_compiles_never_does() -> None:
    stream = crew_flow()
    cancelled = WorkOrderCancelled(work_order_id=WO, reason="off", cancelled_by="d")
    progress = fold([stream[0], (cancelled, at(1)), *stream[1:]])
    assert progress["compiled"] is None and status(progress) == "cancelled"


def test_the_photo_rule_counts_the_current_crew_and_former_members_stay_credited() -> None:
    stream = crew_flow()
    without_m3 = Crew(leader="lead", members=("m1", "m2", "m4"))
    change = CrewChanged(
        work_order_id=WO, change=1, previous=issued(WO).crew, crew=without_m3, changed_by="d"
    )
    stream.insert(1, (change, at(0)))
    progress = fold(stream)
    assert progress["compiled"] is None
    assert {"kind": "photos", "who": "m4", "have": 0, "need": 1} in missing(progress)
    progress = fold([*stream, (photo(WO, "m4", sha="d" * 64), at(30))])
    contributions = progress["compiled"]["contributions"]
    assert [(c["user"], c["role"]) for c in contributions] == [
        ("lead", "leader"), ("m1", "member"), ("m2", "member"), ("m4", "member"), ("m3", "former")
    ]  # fmt: skip
    assert len(contributions[-1]["notes"]) == 1 and len(contributions[-1]["photo_ids"]) == 1
    assert summary(progress, at(40))["crew"] == without_m3.model_dump(mode="json")


def test_identical_notes_are_one_line_crediting_both_and_the_report_says_what_it_saved() -> None:
    same = [note(WO, who, parts=(("SEAL-40", 1),)) for who in ("m1", "m2")]
    other = note(WO, "lead", parts=(("BOLT", 2),))
    lines = (
        ReportLine(note_ids=(same[0].note_id, same[1].note_id)),
        ReportLine(note_ids=(other.note_id,)),
    )
    merged = report(WO, "lead", (*(n.note_id for n in same), other.note_id))
    merged = merged.model_copy(update={"lines": lines})
    stream: list[tuple[Event, datetime]] = [(issued(WO, min_photos=0), at(0))]
    stream += [(e, at(i + 1)) for i, e in enumerate([*same, other, merged])]
    compiled = fold(stream)["compiled"]
    assert [line["credited"] for line in compiled["lines"]] == [["m1", "m2"], ["lead"]]
    assert compiled["lines"][0]["labour_minutes"] == 60
    assert compiled["deduplicated"] == {
        "member_submissions": 3, "report_lines": 2, "photo_uploads": 0, "photos": 0
    }  # fmt: skip


def test_a_late_note_is_listed_after_the_report_until_a_version_merges_it() -> None:
    stream = crew_flow()
    late = note(WO, "m2").model_copy(update={"after_report": True})
    progress = fold([*stream, (late, at(30))])
    assert progress["revision"] == 2
    assert [n["note_id"] for n in progress["compiled"]["after_report"]] == [str(late.note_id)]
    assert not any(m["kind"] == "notes_not_merged" for m in progress["compiled"]["missing"])
    assert summary(progress, at(40))["late_notes"] == 1


def test_overdue_and_started_show_in_the_summary() -> None:
    stream = crew_flow()
    due = issued(WO).model_copy(update={"due_at": at(10)})
    started = WorkOrderStarted(work_order_id=WO, started_by="lead", started_at=at(1))
    progress = fold([(due, at(0)), (started, at(2))])
    view = summary(progress, at(11))
    assert (view["status"], view["overdue"]) == ("in_progress", True)
    assert view["started"] == {"by": "lead", "at": at(1).isoformat()}
    assert not summary(progress, at(9))["overdue"]
    done = fold([(due, at(0)), *stream[1:]])
    assert summary(done, at(11))["status"] == "completed" and not summary(done, at(11))["overdue"]
