"""The lifecycle's rules, pure, as given events / when command / then events or a refusal
naming the rule: start (team), cancel, crew change and rejection (dispatch), and what they do
to notes, reports and photos (docs/design.md §12)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fieldcrew_dispatch import domain as dispatch
from fieldcrew_photos.domain import UploadPhoto, decide_upload
from fieldcrew_photos.domain import fold as photos_fold
from fieldcrew_shared.errors import (
    ConflictError,
    FieldcrewError,
    ForbiddenError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Crew,
    CrewChanged,
    Event,
    LeaderReportRejected,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    ServerReportCompiled,
    WorkOrderCancelled,
    WorkOrderStarted,
)
from fieldcrew_shared.lifecycle import Status, fold_lifecycle, is_overdue
from fieldcrew_team import domain as team

from tests.unit.factories import at, history, issued, note, report

WO = uuid4()
ISSUED = issued(WO, leader="lead", members=("m1", "m2"))


def state(*events: Event) -> list[Event]:
    return [ISSUED, *events]


def started() -> WorkOrderStarted:
    return WorkOrderStarted(work_order_id=WO, started_by="lead")


def submitted(version: int = 1, leader: str = "lead") -> LeaderReportSubmitted:
    return report(WO, leader, ()).model_copy(update={"report_version": version})


def rejected(version: int = 1) -> LeaderReportRejected:
    return LeaderReportRejected(
        work_order_id=WO, report_id=uuid4(), report_version=version, reason="r", rejected_by="d"
    )


def compiled(version: int = 1) -> ServerReportCompiled:
    return ServerReportCompiled(
        work_order_id=WO, revision=version, report={"report_version": version}
    )


def cancelled() -> WorkOrderCancelled:
    return WorkOrderCancelled(work_order_id=WO, reason="off", cancelled_by="d")


def crew_changed(leader: str, members: tuple[str, ...], change: int = 1) -> CrewChanged:
    return CrewChanged(
        work_order_id=WO,
        change=change,
        previous=ISSUED.crew,
        crew=Crew(leader=leader, members=members),
        changed_by="d",
    )


STATES: dict[Status, list[Event]] = {
    Status.issued: state(),
    Status.in_progress: state(started()),
    Status.report_submitted: state(started(), submitted()),
    Status.completed: state(submitted(), compiled()),
    Status.rework: state(submitted(), compiled(), rejected()),
    Status.cancelled: state(started(), cancelled()),
}


def refused(error: type[FieldcrewError], code: str | None, decide: object, *args: object) -> None:
    with pytest.raises(error) as caught:
        decide(*args)  # type: ignore[operator]
    if code is not None:
        assert caught.value.code == code


@pytest.mark.parametrize("status", list(Status))
def test_each_state_folds_to_its_status(status: Status) -> None:
    lifecycle = fold_lifecycle(history(*STATES[status]))
    assert lifecycle is not None and lifecycle.status == status


def test_a_second_report_after_rework_is_submitted_then_completed() -> None:
    again = [*STATES[Status.rework], submitted(2)]
    assert fold_lifecycle(history(*again)).status == Status.report_submitted  # type: ignore[union-attr]
    done = fold_lifecycle(history(*again, compiled(2)))
    assert done is not None and done.status == Status.completed and done.report_version == 2


# -- start (team) --


def start(actor: str = "lead", role: str = "technician") -> team.StartWork:
    return team.StartWork(WO, actor, role, at(5))


def test_the_leader_starts_an_issued_work_order_once() -> None:
    [event] = team.decide_start(team.fold(history(*STATES[Status.issued])), start())
    assert isinstance(event, WorkOrderStarted) and event.started_at == at(5)
    for status in (Status.in_progress, Status.report_submitted, Status.rework):
        refused(ConflictError, "already_started", team.decide_start,
                team.fold(history(*STATES[status])), start())  # fmt: skip
    refused(ConflictError, "work_order_cancelled", team.decide_start,
            team.fold(history(*STATES[Status.cancelled])), start())  # fmt: skip


@pytest.mark.parametrize(("actor", "role"), [("m1", "technician"), ("lead", "dispatcher")])
def test_only_the_leader_starts(actor: str, role: str) -> None:
    refused(ForbiddenError, None, team.decide_start, team.fold(history(ISSUED)), start(actor, role))
    refused(NotFoundError, None, team.decide_start, team.fold([]), start())


# -- cancel, crew change, reject (dispatch) --


def cancel(role: str = "dispatcher") -> dispatch.CancelWorkOrder:
    return dispatch.CancelWorkOrder(WO, "customer called off", "dora", role)


def change(leader: str, members: tuple[str, ...], role: str = "dispatcher") -> dispatch.ChangeCrew:
    return dispatch.ChangeCrew(WO, leader, members, "dora", role)


def reject(role: str = "admin") -> dispatch.RejectReport:
    return dispatch.RejectReport(WO, "photos of the seal missing", "adam", role)


ALLOWED = {
    "cancel": {Status.issued, Status.in_progress, Status.report_submitted, Status.rework},
    "crew": {Status.issued, Status.in_progress, Status.rework},
    "reject": {Status.report_submitted, Status.completed},
}
CODES = {"cancel": "work_order_completed", "crew": "crew_change_not_allowed",
         "reject": "report_not_submitted"}  # fmt: skip
COMMANDS = {
    "cancel": (dispatch.decide_cancel, cancel),
    "crew": (dispatch.decide_change_crew, lambda role="dispatcher": change("m1", ("m2",), role)),
    "reject": (dispatch.decide_reject, reject),
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_office_commands_follow_the_state_machine(command: str, status: Status) -> None:
    decide, make = COMMANDS[command]
    lc = dispatch.fold(history(*STATES[status]))
    if status in ALLOWED[command]:
        [event] = decide(lc, make())
        assert event.work_order_id == WO
    else:
        code = "work_order_cancelled" if status == Status.cancelled else CODES[command]
        refused(ConflictError, code, decide, lc, make())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_office_commands_are_the_offices_and_need_a_work_order(command: str) -> None:
    decide, make = COMMANDS[command]
    lc = dispatch.fold(history(*STATES[Status.report_submitted]))
    for role in ("technician", "analyst"):
        refused(ForbiddenError, None, decide, lc, make(role))
    refused(NotFoundError, None, decide, None, make())


def test_a_crew_change_names_the_crews_and_the_same_crew_changes_nothing() -> None:
    lc = dispatch.fold(history(*STATES[Status.in_progress]))
    [event] = dispatch.decide_change_crew(lc, change("m1", ("m2", "m3")))
    assert isinstance(event, CrewChanged) and event.change == 1
    assert event.previous == ISSUED.crew and event.crew == Crew(leader="m1", members=("m2", "m3"))
    assert dispatch.decide_change_crew(lc, change("lead", ("m1", "m2"))) == []
    refused(InvalidCommandError, None, dispatch.decide_change_crew, lc, change("m1", ("m1",)))
    again = dispatch.fold(history(*STATES[Status.in_progress], event))
    [second] = dispatch.decide_change_crew(again, change("lead", ("m1",)))
    assert isinstance(second, CrewChanged) and second.change == 2 and second.previous == event.crew


def test_a_rejection_names_the_newest_report_version() -> None:
    lc = dispatch.fold(history(*STATES[Status.rework], submitted(2)))
    [event] = dispatch.decide_reject(lc, reject())
    assert isinstance(event, LeaderReportRejected) and event.report_version == 2


# -- what the lifecycle does to the crew's commands --


def add(author: str, **kw: object) -> team.AddNote:
    fields: dict[str, object] = dict(
        work_order_id=WO, note_id=uuid4(), author=author, author_role="technician",
        findings="f", actions="a", parts=(), labour_minutes=5,
    )  # fmt: skip
    fields.update(kw)
    return team.AddNote(**fields)  # type: ignore[arg-type]


def submit(actor: str) -> team.SubmitReport:
    return team.SubmitReport(
        work_order_id=WO, report_id=uuid4(), actor=actor, actor_role="technician",
        summary="done", root_cause="", actions="", outcome=Outcome.resolved, parts=None,
        note_ids=None,
    )  # fmt: skip


def upload(uploader: str) -> UploadPhoto:
    return UploadPhoto(WO, uploader, "a" * 64, "sha256/a", "image/jpeg", 10, 4, 3)


def test_a_cancelled_work_order_takes_no_notes_reports_or_photos() -> None:
    records = history(*STATES[Status.cancelled])
    for decide, state_, cmd in (
        (team.decide_add_note, team.fold(records), add("m1")),
        (team.decide_submit_report, team.fold(records), submit("lead")),
        (decide_upload, photos_fold(records), upload("m1")),
    ):
        refused(ConflictError, "work_order_cancelled", decide, state_, cmd)


def test_a_removed_member_adds_nothing_and_the_new_leader_submits() -> None:
    records = history(*state(note(WO, "m2"), crew_changed("m1", ("m3",))))
    now = team.fold(records)
    refused(ForbiddenError, None, team.decide_add_note, now, add("m2"))
    refused(ForbiddenError, None, decide_upload, photos_fold(records), upload("m2"))
    refused(ForbiddenError, None, team.decide_submit_report, now, submit("lead"))
    [event] = team.decide_submit_report(now, submit("m1"))
    assert isinstance(event, LeaderReportSubmitted) and event.leader == "m1"
    assert len(event.merged_note_ids) == 1  # what m2 added stays and is merged
    assert team.decide_add_note(now, add("m3"))
    assert team.visible_notes(now, "m1", "technician") == list(now.notes.values())


def test_a_note_recorded_before_the_report_but_received_after_is_kept_as_late() -> None:
    records = history(*STATES[Status.report_submitted])
    submitted_at = records[-1].envelope.recorded_at
    now = team.fold(records)
    [late] = team.decide_add_note(now, add("m1", occurred_at=submitted_at.replace(year=2025)))
    assert isinstance(late, MemberNoteAdded) and late.after_report
    refused(ConflictError, "report_already_submitted", team.decide_add_note, now, add("m1"))
    after = add("m1", occurred_at=submitted_at.replace(year=2027))
    refused(ConflictError, "report_already_submitted", team.decide_add_note, now, after)


def test_in_rework_members_add_notes_again_and_the_leader_submits_version_two() -> None:
    now = team.fold(history(*STATES[Status.rework]))
    [fresh] = team.decide_add_note(now, add("m2"))
    assert isinstance(fresh, MemberNoteAdded) and not fresh.after_report
    [second] = team.decide_submit_report(team.fold(history(*STATES[Status.rework], fresh)),
                                         submit("lead"))  # fmt: skip
    assert isinstance(second, LeaderReportSubmitted) and second.report_version == 2
    assert second.merged_note_ids == (fresh.note_id,)


def test_overdue_is_past_due_and_not_done() -> None:
    due = at(60)
    assert is_overdue(due, Status.in_progress, at(61))
    assert not is_overdue(due, Status.in_progress, at(59))
    assert not is_overdue(due, Status.completed, at(61))
    assert not is_overdue(due, Status.cancelled, at(61))
    assert not is_overdue(None, Status.issued, at(61))
