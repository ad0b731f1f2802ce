"""The aggregator's rule: compile when the leader's report and everyone's photos are in,
whatever the order; late photos make revisions; redeliveries change nothing."""

from __future__ import annotations

import copy
import random
from datetime import datetime
from uuid import uuid4

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
from fieldcrew_shared.events import Event, ServerReportCompiled

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
    assert summary(progress)["photos_by_member"]["m2"] == 2


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
