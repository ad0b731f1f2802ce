"""The leader-only rule and note merging, as given events / when command / then events."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    Phase,
    Reading,
)
from fieldcrew_team.domain import (
    AddNote,
    SubmitReport,
    TeamState,
    decide_add_note,
    decide_submit_report,
    fold,
    merge_parts,
    visible_notes,
)

from tests.unit.factories import history, issued, note

WO = uuid4()
WORK_ORDER = issued(WO)


def given(*events: Event) -> TeamState:
    """The team's state after the work order was issued and then ``events``."""
    return fold(history(WORK_ORDER, *events))


def add(author: str, **kw: object) -> AddNote:
    fields: dict[str, object] = dict(
        work_order_id=WO,
        note_id=uuid4(),
        author=author,
        author_role="technician",
        findings="f",
        actions="a",
        parts=(),
        labour_minutes=10,
    )
    fields.update(kw)
    return AddNote(**fields)  # type: ignore[arg-type]


def submit(actor: str, **kw: object) -> SubmitReport:
    fields: dict[str, object] = dict(
        work_order_id=WO,
        report_id=uuid4(),
        actor=actor,
        actor_role="technician",
        summary="done",
        root_cause="wear",
        actions="replaced",
        outcome=Outcome.resolved,
        parts=None,
        note_ids=None,
    )
    fields.update(kw)
    return SubmitReport(**fields)  # type: ignore[arg-type]


def test_a_member_adds_a_note() -> None:
    events = decide_add_note(given(), add("m1"))
    assert len(events) == 1 and isinstance(events[0], MemberNoteAdded)
    assert events[0].author == "m1"


def test_someone_not_on_the_crew_may_not_add_a_note() -> None:
    with pytest.raises(ForbiddenError):
        decide_add_note(given(), add("stranger"))


def test_a_note_on_an_unknown_work_order_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        decide_add_note(fold([]), add("m1"))


def test_only_the_leader_submits_the_report() -> None:
    state = given(note(WO, "m1"))
    for member in ("m1", "m2", "m3"):
        with pytest.raises(ForbiddenError, match="only the work order's leader"):
            decide_submit_report(state, submit(member))
    with pytest.raises(ForbiddenError):
        decide_submit_report(state, submit("stranger"))
    events = decide_submit_report(state, submit("lead"))
    assert isinstance(events[0], LeaderReportSubmitted)


def test_the_report_merges_parts_by_part_number_and_names_the_notes() -> None:
    notes = [
        note(WO, "m1", parts=(("P-1", 2), ("P-2", 1)), minutes=30),
        note(WO, "m2", parts=(("P-1", 1),), minutes=45),
        note(WO, "lead", parts=(("P-3", 4), ("P-2", 2)), minutes=15),
    ]
    [report] = decide_submit_report(given(*notes), submit("lead"))
    assert isinstance(report, LeaderReportSubmitted)
    assert report.parts == (
        PartLine(part_no="P-1", qty=3),
        PartLine(part_no="P-2", qty=3),
        PartLine(part_no="P-3", qty=4),
    )
    assert report.merged_note_ids == tuple(n.note_id for n in notes)
    assert report.labour_minutes == 90


def test_the_leader_may_merge_a_subset_but_not_unknown_notes() -> None:
    notes = [note(WO, "m1", parts=(("P-1", 2),)), note(WO, "m2", parts=(("P-9", 1),))]
    [report] = decide_submit_report(given(*notes), submit("lead", note_ids=(notes[0].note_id,)))
    assert isinstance(report, LeaderReportSubmitted)
    assert report.parts == (PartLine(part_no="P-1", qty=2),)
    with pytest.raises(InvalidCommandError, match="unknown note ids"):
        decide_submit_report(given(*notes), submit("lead", note_ids=(uuid4(),)))


def test_a_second_report_is_a_conflict_and_closes_notes() -> None:
    state = given(*decide_submit_report(given(), submit("lead")))
    with pytest.raises(ConflictError) as refused:
        decide_submit_report(state, submit("lead"))
    assert refused.value.code == "report_already_submitted"
    with pytest.raises(ConflictError, match="notes are closed"):
        decide_add_note(state, add("m1"))


def test_merge_parts_keeps_first_appearance_order() -> None:
    lines = [PartLine(part_no=p, qty=q) for p, q in [("B", 1), ("A", 2), ("B", 3)]]
    assert merge_parts(lines) == (PartLine(part_no="B", qty=4), PartLine(part_no="A", qty=2))


def test_members_see_their_own_notes_and_the_leader_sees_all() -> None:
    state = given(note(WO, "m1"), note(WO, "m2"), note(WO, "lead"))
    assert {n.author for n in visible_notes(state, "m1", "technician")} == {"m1"}
    assert len(visible_notes(state, "lead", "technician")) == 3
    with pytest.raises(ForbiddenError):
        visible_notes(state, "disp", "dispatcher")


def test_a_note_records_its_readings_and_readings_tell_notes_apart() -> None:
    before = Reading(name="pressure", value=2.1, unit="bar", phase=Phase.before)
    after = Reading(name="pressure", value=4.2, unit="bar", phase=Phase.after)
    [measured] = decide_add_note(given(), add("m1", readings=(before, after)))
    assert isinstance(measured, MemberNoteAdded) and measured.readings == (before, after)
    [same_text] = decide_add_note(given(), add("m2", readings=(before,)))
    [report] = decide_submit_report(given(measured, same_text), submit("lead"))
    assert isinstance(report, LeaderReportSubmitted)
    assert len(report.lines) == 2  # the same words, other values: not the same work


def test_a_redelivered_event_changes_nothing() -> None:
    n = note(WO, "m1")
    assert given(n, n).notes == given(n).notes == {n.note_id: n}


def test_identical_notes_are_one_report_line_and_their_parts_count_once() -> None:
    """Four members telling the same replaced seal is one seal (the invention's point): the
    same findings, actions and parts make one line naming every note; labour still adds up."""
    told = {"findings": "seal worn", "actions": "replaced the seal"}
    same = [
        note(WO, who, parts=(("SEAL-40", 1), ("BOLT-M8", 2))).model_copy(update=told)
        for who in ("m1", "m2", "lead")
    ]
    spaced = same[0].model_copy(update={"note_id": uuid4(), "author": "m3",
                                        "findings": f"  {same[0].findings} "})  # fmt: skip
    other = note(WO, "m2", parts=(("SEAL-40", 1),)).model_copy(update=told)
    [report] = decide_submit_report(given(*same, spaced, other), submit("lead"))
    assert isinstance(report, LeaderReportSubmitted)
    assert [line.note_ids for line in report.lines] == [
        (*(n.note_id for n in same), spaced.note_id),
        (other.note_id,),
    ]
    assert report.parts == (PartLine(part_no="SEAL-40", qty=2), PartLine(part_no="BOLT-M8", qty=2))
    assert report.labour_minutes == 5 * 30 and report.report_version == 1
