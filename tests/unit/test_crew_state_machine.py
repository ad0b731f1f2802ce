"""Hypothesis drives issue / note / photo / report / redeliver against the pure domain of
dispatch, team and photos and the aggregator's fold, and checks after every step that only the
leader's report is ever accepted (once), that folding the log gives the current state, that a
redelivered event changes nothing and that the compiled report lists every photo once. (A
client's retry of a command is the command pipeline's, tested on its own in
test_command_pipeline.py.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid5

import pytest
from fieldcrew_aggregator.domain import Progress, empty_progress, evolve, recompile
from fieldcrew_dispatch.domain import IssueWorkOrder, decide_issue
from fieldcrew_dispatch.domain import fold as dispatch_fold
from fieldcrew_photos.domain import UploadPhoto, decide_upload
from fieldcrew_photos.domain import fold as photos_fold
from fieldcrew_shared.errors import (
    ConflictError,
    FieldcrewError,
    ForbiddenError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Asset,
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    PhotoUploaded,
    Priority,
    ServerReportCompiled,
    Site,
    WorkOrderIssued,
)
from fieldcrew_shared.records import Recorded
from fieldcrew_team.domain import AddNote, SubmitReport, TeamState, decide_add_note
from fieldcrew_team.domain import decide_submit_report as decide_report
from fieldcrew_team.domain import evolve as team_evolve
from fieldcrew_team.domain import fold as team_fold
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.unit.factories import at, recorded

WO = UUID("7d5e2c1a-4b1f-4c3e-9a7d-2f6b8e0c1d23")
LEADER, MEMBERS, STRANGER = "lead", ("m1", "m2"), "eve"
PEOPLE = st.sampled_from([LEADER, *MEMBERS, STRANGER])
TOKEN_ROLES = st.sampled_from(["technician", "technician", "technician", "dispatcher"])
IMAGES = st.sampled_from([f"{i:064x}" for i in range(4)])
Expected = type[FieldcrewError] | None


def expect(outcome: Expected, decide: Callable[..., list[Event]], *args: object) -> list[Event]:
    """Run a decision: the events it decided, or (when ``outcome`` is an error) check that it
    refused with that error."""
    if outcome is None:
        return decide(*args)
    with pytest.raises(outcome):
        decide(*args)
    return []


class CrewFlow(RuleBasedStateMachine):
    """One work order, its crew and a stranger; the log holds every event once, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[Event, datetime]] = []
        self.team = TeamState()
        self.progress: Progress = empty_progress(str(WO))
        self.issue_cmd: IssueWorkOrder | None = None
        self.uploads: set[tuple[str, str]] = set()
        self.serial = 0

    # -- the system: append to the log, fold into the team state and the aggregator --

    def append(self, events: list[Event]) -> None:
        for event in events:
            self.log.append((event, at(len(self.log))))
            self.deliver(*self.log[-1])

    def deliver(self, event: Event, recorded_at: datetime) -> None:
        self.team = team_evolve(self.team, event)
        evolve(self.progress, event, recorded_at)
        if recompile(self.progress):  # the aggregator announces each revision on the log
            announced = ServerReportCompiled(work_order_id=WO, revision=self.progress["revision"])
            self.append([announced])

    def of_type(self, kind: type[Event]) -> list[Event]:
        return [e for e, _ in self.log if isinstance(e, kind)]

    @property
    def records(self) -> list[Recorded]:
        return [recorded(e, minutes=i, seq=i + 1) for i, (e, _) in enumerate(self.log)]

    @property
    def work_order(self) -> WorkOrderIssued | None:
        issued = self.of_type(WorkOrderIssued)
        return issued[0] if issued and isinstance(issued[0], WorkOrderIssued) else None

    def next_id(self) -> UUID:
        self.serial += 1
        return uuid5(WO, str(self.serial))

    # -- the rules --

    @rule(role=st.sampled_from(["dispatcher", "technician"]), min_photos=st.integers(0, 2))
    def issue(self, role: str, min_photos: int) -> None:
        cmd = self.issue_cmd or IssueWorkOrder(
            work_order_id=WO,
            title="Pump leaks",
            description="",
            site=Site(name="Plant 2", address="Industriestr. 4"),
            asset=Asset(id="P-104"),
            customer=None,
            priority=Priority.high,
            due_at=None,
            leader=LEADER,
            members=MEMBERS,
            min_photos_per_member=min_photos,
            actor="dora",
            actor_role=role,
        )
        outcome: Expected = ForbiddenError if cmd.actor_role != "dispatcher" else None
        if outcome is None and self.issue_cmd is not None:
            outcome = ConflictError
        events = expect(outcome, decide_issue, dispatch_fold(self.records), cmd)
        assert len(events) == (outcome is None)
        if events:
            self.issue_cmd = cmd
        self.append(events)

    @rule(author=PEOPLE, token_role=TOKEN_ROLES, qty=st.integers(1, 3))
    def add_note(self, author: str, token_role: str, qty: int) -> None:
        cmd = AddNote(
            work_order_id=WO,
            note_id=self.next_id(),
            author=author,
            author_role=token_role,
            findings="found",
            actions="fixed",
            parts=(PartLine(part_no=f"P-{qty}", qty=qty),),
            labour_minutes=10,
        )
        outcome = self.crew_outcome(author, token_role)
        if outcome is None and self.team.report is not None:
            outcome = ConflictError
        events = expect(outcome, decide_add_note, self.team, cmd)
        assert len(events) == (outcome is None)
        self.append(events)

    @rule(uploader=PEOPLE, sha=IMAGES)
    def upload_photo(self, uploader: str, sha: str) -> None:
        cmd = UploadPhoto(
            work_order_id=WO,
            uploader=uploader,
            sha256=sha,
            object_key=f"sha256/{sha}",
            content_type="image/jpeg",
            size=100,
            width=64,
            height=48,
        )
        outcome = self.crew_outcome(uploader, "technician")
        events = expect(outcome, decide_upload, photos_fold(self.records), cmd)
        fresh = outcome is None and (uploader, sha) not in self.uploads
        assert len(events) == fresh
        for event in events:
            assert isinstance(event, PhotoUploaded)
            assert event.duplicate == any(s == sha for _, s in self.uploads)
            self.uploads.add((uploader, sha))
        self.append(events)

    @rule(actor=PEOPLE, token_role=TOKEN_ROLES, data=st.data())
    def submit_report(self, actor: str, token_role: str, data: st.DataObject) -> None:
        notes = list(self.team.notes)
        subsets = st.lists(st.sampled_from(notes), unique=True) if notes else st.just([])
        note_ids = data.draw(st.none() | subsets)
        cmd = SubmitReport(
            work_order_id=WO,
            report_id=self.next_id(),
            actor=actor,
            actor_role=token_role,
            summary="done",
            root_cause="wear",
            actions="replaced",
            outcome=Outcome.resolved,
            parts=None,
            note_ids=tuple(note_ids) if note_ids is not None else None,
        )
        outcome = self.crew_outcome(actor, token_role)
        if outcome is None and actor != LEADER:
            outcome = ForbiddenError
        if outcome is None and self.team.report is not None:
            outcome = ConflictError
        events = expect(outcome, decide_report, self.team, cmd)
        self.append(events)

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        event, recorded_at = data.draw(st.sampled_from(self.log))
        team, progress, length = self.team, copy.deepcopy(self.progress), len(self.log)
        self.deliver(event, recorded_at)
        assert (self.team, self.progress, len(self.log)) == (team, progress, length)

    def crew_outcome(self, user: str, token_role: str) -> Expected:
        if self.work_order is None:
            return NotFoundError
        if user not in (LEADER, *MEMBERS) or token_role != "technician":
            return ForbiddenError
        return None

    # -- the invariants --

    @invariant()
    def only_the_leaders_report_once(self) -> None:
        reports = self.of_type(LeaderReportSubmitted)
        assert len(reports) <= 1
        assert all(isinstance(r, LeaderReportSubmitted) and r.leader == LEADER for r in reports)
        notes = self.of_type(MemberNoteAdded)
        assert all(isinstance(n, MemberNoteAdded) and n.author != STRANGER for n in notes)

    @invariant()
    def folding_the_log_gives_the_state(self) -> None:
        assert team_fold(self.records) == self.team
        fresh = empty_progress(str(WO))
        for event, recorded_at in self.log:
            evolve(fresh, event, recorded_at)
            recompile(fresh)
        assert fresh == self.progress

    @invariant()
    def the_report_lists_every_photo_once(self) -> None:
        compiled = self.progress["compiled"]
        if compiled is None:
            return
        assert self.team.report is not None
        shas = [p["sha256"] for p in compiled["photos"]]
        assert sorted(shas) == sorted({sha for _, sha in self.uploads})
        for photo in compiled["photos"]:
            users = [u["user"] for u in photo["uploaders"]]
            assert sorted(users) == sorted(u for u, s in self.uploads if s == photo["sha256"])


CrewFlow.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCrewFlow = CrewFlow.TestCase
