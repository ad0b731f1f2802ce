"""Hypothesis drives a work order's whole lifecycle against the pure domains of dispatch, team
and photos and the aggregator's fold: issue, start, notes (some recorded offline), photos,
reports, rejections, crew changes, cancellation, redeliveries. After every step it checks that
each command was accepted or refused as the state machine says (docs/design.md §12), that the
shared lifecycle, the aggregator and the test's own model agree on the status, that only the
current leader's reports get in (versions 1, 2, ...), that nothing is added by someone off the
crew or after a cancellation, and that the compiled report lists every photo once. (A client's
retry of a command is the command pipeline's, tested in test_command_pipeline.py.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid5

import pytest
from fieldcrew_aggregator.domain import Progress, empty_progress, evolve, recompile
from fieldcrew_aggregator.domain import status as aggregator_status
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
    CrewChanged,
    Event,
    LeaderReportSubmitted,
    MemberNoteAdded,
    Outcome,
    PartLine,
    PhotoUploaded,
    Priority,
    ServerReportCompiled,
    WorkOrderCancelled,
    WorkOrderIssued,
)
from fieldcrew_shared.lifecycle import Status, fold_lifecycle
from fieldcrew_shared.records import Recorded
from fieldcrew_team import domain as team
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.unit.factories import at, recorded

WO = UUID("7d5e2c1a-4b1f-4c3e-9a7d-2f6b8e0c1d23")
PEOPLE = ("lead", "m1", "m2", "eve")
PERSON = st.sampled_from(["lead", *PEOPLE])  # the first leader acts more often
TECH_OR_OFFICE = st.sampled_from(["technician", "technician", "technician", "dispatcher"])
OFFICE_OR_TECH = st.sampled_from(["dispatcher", "admin", "technician"])
IMAGES = st.sampled_from([f"{i:064x}" for i in range(4)])
Expected = type[FieldcrewError] | None
OPEN = {Status.issued, Status.in_progress, Status.rework}
SUBMITTED = {Status.report_submitted, Status.completed}


def expect(outcome: Expected, decide: Callable[..., list[Event]], *args: object) -> list[Event]:
    """Run a decision: the events it decided, or (when ``outcome`` is an error) check that it
    refused with that error and decided nothing."""
    if outcome is None:
        return decide(*args)
    with pytest.raises(outcome):
        decide(*args)
    return []


class Lifecycle(RuleBasedStateMachine):
    """One work order; the log holds every event once, in order; the aggregator folds it."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[Event, datetime]] = []
        self.progress: Progress = empty_progress(str(WO))
        self.serial = 0
        # the model: what the test expects, kept from the commands it saw accepted
        self.issued = False
        self.crew: tuple[str, tuple[str, ...]] = ("lead", ("m1", "m2"))
        self.started = self.cancelled = False
        self.reports = self.rejected = 0
        self.uploads: set[tuple[str, str]] = set()

    # -- the system: append to the log and fold into the aggregator, which announces --

    def append(self, events: list[Event]) -> None:
        for event in events:
            self.log.append((event, at(len(self.log))))
            self.deliver(*self.log[-1])

    def deliver(self, event: Event, recorded_at: datetime) -> None:
        evolve(self.progress, event, recorded_at)
        if recompile(self.progress):
            report = self.progress["compiled"]
            announced = ServerReportCompiled(
                work_order_id=WO, revision=self.progress["revision"], report=report
            )
            self.append([announced])

    @property
    def records(self) -> list[Recorded]:
        return [recorded(e, minutes=i, seq=i + 1) for i, (e, _) in enumerate(self.log)]

    def next_id(self) -> UUID:
        self.serial += 1
        return uuid5(WO, str(self.serial))

    # -- the model's expectations --

    @property
    def status(self) -> Status | None:
        if not self.issued:
            return None
        if self.cancelled:
            return Status.cancelled
        if self.reports:
            if self.rejected == self.reports:
                return Status.rework
            compiled = self.progress["compiled"] or {}
            done = compiled.get("report_version") == self.reports
            return Status.completed if done else Status.report_submitted
        return Status.in_progress if self.started else Status.issued

    def on_crew(self, user: str, token_role: str) -> Expected:
        """NotFound, Forbidden or None for a crew action by ``user``."""
        if not self.issued:
            return NotFoundError
        if user not in (self.crew[0], *self.crew[1]) or token_role != "technician":
            return ForbiddenError
        return None

    def by_office(self, role: str) -> Expected:
        if not self.issued:
            return NotFoundError
        return None if role in ("dispatcher", "admin") else ForbiddenError

    # -- the commands --

    @initialize(issued=st.booleans(), min_photos=st.integers(0, 1))
    def begin(self, issued: bool, min_photos: int) -> None:
        """Most runs start from an issued work order (commands on a missing one are 404)."""
        if issued:
            self.issue("dispatcher", min_photos)

    @rule(role=st.sampled_from(["dispatcher", "technician"]), min_photos=st.integers(0, 2))
    def issue(self, role: str, min_photos: int) -> None:
        cmd = dispatch.IssueWorkOrder(
            work_order_id=WO,
            title="Pump leaks",
            description="",
            site=None,
            asset=None,
            customer=None,
            priority=Priority.high,
            due_at=None,
            leader="lead",
            members=("m1", "m2"),
            min_photos_per_member=min_photos,
            actor="dora",
            actor_role=role,
        )
        outcome: Expected = ForbiddenError if role != "dispatcher" else None
        if outcome is None and self.issued:
            outcome = ConflictError
        events = expect(outcome, dispatch.decide_issue, dispatch.fold(self.records), cmd)
        self.issued = self.issued or bool(events)
        self.append(events)

    @rule(actor=PERSON, token_role=TECH_OR_OFFICE)
    def start(self, actor: str, token_role: str) -> None:
        cmd = team.StartWork(WO, actor, token_role, None)
        outcome = self.on_crew(actor, token_role)
        if outcome is None and actor != self.crew[0]:
            outcome = ForbiddenError
        if outcome is None and self.status != Status.issued:
            outcome = ConflictError
        events = expect(outcome, team.decide_start, team.fold(self.records), cmd)
        self.started = self.started or bool(events)
        self.append(events)

    @rule(author=PERSON, token_role=TECH_OR_OFFICE, offline=st.booleans(), qty=st.integers(1, 2))
    def add_note(self, author: str, token_role: str, offline: bool, qty: int) -> None:
        cmd = team.AddNote(
            work_order_id=WO,
            note_id=self.next_id(),
            author=author,
            author_role=token_role,
            findings="found",
            actions="fixed",
            parts=(PartLine(part_no=f"P-{qty}", qty=qty),),
            labour_minutes=10,
            occurred_at=at(-60) if offline else None,  # recorded before anything, synced now
        )
        outcome = self.on_crew(author, token_role)
        if outcome is None and (self.cancelled or (self.status in SUBMITTED and not offline)):
            outcome = ConflictError
        late = self.status in SUBMITTED
        events = expect(outcome, team.decide_add_note, team.fold(self.records), cmd)
        assert all(isinstance(e, MemberNoteAdded) and e.after_report == late for e in events)
        self.append(events)

    @rule(uploader=PERSON, sha=IMAGES)
    def upload_photo(self, uploader: str, sha: str) -> None:
        cmd = UploadPhoto(WO, uploader, sha, f"sha256/{sha}", "image/jpeg", 100, 64, 48)
        outcome = self.on_crew(uploader, "technician")
        if outcome is None and self.cancelled:
            outcome = ConflictError
        events = expect(outcome, decide_upload, photos_fold(self.records), cmd)
        assert len(events) == (outcome is None and (uploader, sha) not in self.uploads)
        self.uploads |= {(uploader, sha) for _ in events}
        self.append(events)

    @rule(actor=PERSON, token_role=TECH_OR_OFFICE)
    def submit_report(self, actor: str, token_role: str) -> None:
        cmd = team.SubmitReport(
            work_order_id=WO,
            report_id=self.next_id(),
            actor=actor,
            actor_role=token_role,
            summary="done",
            root_cause="wear",
            actions="replaced",
            outcome=Outcome.resolved,
            parts=None,
            note_ids=None,
        )
        outcome = self.on_crew(actor, token_role)
        if outcome is None and actor != self.crew[0]:
            outcome = ForbiddenError
        if outcome is None and self.status not in OPEN:
            outcome = ConflictError
        events = expect(outcome, team.decide_submit_report, team.fold(self.records), cmd)
        for event in events:
            assert isinstance(event, LeaderReportSubmitted)
            self.reports += 1
            assert event.report_version == self.reports
        self.append(events)

    @rule(role=OFFICE_OR_TECH, now=st.integers(0, 2))
    def reject(self, role: str, now: int) -> None:
        if now:  # reviews take a while: let the crew finish more often
            return
        cmd = dispatch.RejectReport(WO, "redo the seal", "dora", role)
        outcome = self.by_office(role)
        if outcome is None and self.status not in SUBMITTED:
            outcome = ConflictError
        events = expect(outcome, dispatch.decide_reject, dispatch.fold(self.records), cmd)
        if events:
            self.rejected = self.reports
        self.append(events)

    @rule(role=OFFICE_OR_TECH, leader=PERSON, members=st.sets(PERSON, max_size=2))
    def change_crew(self, role: str, leader: str, members: set[str]) -> None:
        crew = (leader, tuple(sorted(members)))
        cmd = dispatch.ChangeCrew(WO, leader, crew[1], "dora", role)
        outcome = self.by_office(role)
        if outcome is None and self.status not in OPEN:
            outcome = ConflictError
        if outcome is None and leader in members:
            outcome = InvalidCommandError
        events = expect(outcome, dispatch.decide_change_crew, dispatch.fold(self.records), cmd)
        if outcome is None:
            assert bool(events) == (crew != self.crew)
            self.crew = crew
        self.append(events)

    @rule(role=OFFICE_OR_TECH, now=st.integers(0, 3))
    def cancel(self, role: str, now: int) -> None:
        if now:  # a cancellation ends the story: rarely
            return
        cmd = dispatch.CancelWorkOrder(WO, "customer called off", "dora", role)
        outcome = self.by_office(role)
        if outcome is None and self.status in (Status.cancelled, Status.completed):
            outcome = ConflictError
        events = expect(outcome, dispatch.decide_cancel, dispatch.fold(self.records), cmd)
        self.cancelled = self.cancelled or bool(events)
        self.append(events)

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        event, recorded_at = data.draw(st.sampled_from(self.log))
        progress, length = copy.deepcopy(self.progress), len(self.log)
        self.deliver(event, recorded_at)
        assert (self.progress, len(self.log)) == (progress, length)

    # -- the invariants --

    @invariant()
    def every_reading_agrees_on_the_status(self) -> None:
        lifecycle = fold_lifecycle(self.records)
        if lifecycle is None:
            assert self.status is None
            return
        assert lifecycle.status == aggregator_status(self.progress) == self.status
        assert (lifecycle.crew.leader, lifecycle.crew.members) == self.crew

    @invariant()
    def only_the_crew_of_the_moment_adds_and_nothing_after_cancelling(self) -> None:
        crew: set[str] = set()
        leader, cancelled, versions = "", False, []
        for event, _ in self.log:
            if isinstance(event, WorkOrderIssued | CrewChanged):
                crew, leader = set(event.crew.everyone), event.crew.leader
            elif isinstance(event, WorkOrderCancelled):
                cancelled = True
            elif not isinstance(event, ServerReportCompiled):
                assert not cancelled, f"{event.name} after the cancellation"
            if isinstance(event, MemberNoteAdded | PhotoUploaded):
                author = event.author if isinstance(event, MemberNoteAdded) else event.uploader
                assert author in crew
            if isinstance(event, LeaderReportSubmitted):
                assert event.leader == leader
                versions.append(event.report_version)
        assert versions == list(range(1, len(versions) + 1))

    @invariant()
    def folding_the_log_again_gives_the_same_progress(self) -> None:
        fresh = empty_progress(str(WO))
        for event, recorded_at in self.log:
            evolve(fresh, event, recorded_at)
            recompile(fresh)
        assert fresh == self.progress

    @invariant()
    def the_report_lists_every_photo_once_and_a_cancelled_one_says_so(self) -> None:
        compiled = self.progress["compiled"]
        if compiled is None or self.status not in (Status.completed, Status.cancelled):
            return  # nothing compiled, or a report under rework or awaiting its photos
        shas = [p["sha256"] for p in compiled["photos"]]
        assert sorted(shas) == sorted({sha for _, sha in self.uploads})
        for photo in compiled["photos"]:
            users = [u["user"] for u in photo["uploaders"]]
            assert sorted(users) == sorted(u for u, s in self.uploads if s == photo["sha256"])
        if self.cancelled:
            assert compiled["cancelled"] is not None


Lifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = Lifecycle.TestCase
