"""Dispatch's, team's and photos' handlers on our in-memory event log (tests/fakes.py): what
each command records, what a client's retry gets, and what a lost race turns into. The same
commands over the real NATS, through HTTP: tests/integration and tests/e2e."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from fieldcrew_dispatch import handlers as dispatch
from fieldcrew_dispatch.domain import IssueWorkOrder
from fieldcrew_photos import handlers as photos
from fieldcrew_photos.domain import UploadPhoto
from fieldcrew_shared.commands import command_id
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import ConflictError, InvalidCommandError
from fieldcrew_shared.events import Asset, MemberNoteAdded, Outcome, Priority, Site, WorkOrderIssued
from fieldcrew_team import handlers as team
from fieldcrew_team.domain import AddNote, SubmitReport

from tests.fakes import FakeEventLog
from tests.unit.factories import issued, report

DORA = Metadata(actor="dora", actorrole="dispatcher", correlationid="c")
M1 = Metadata(actor="m1", actorrole="technician", correlationid="c")
LEAD = Metadata(actor="lead", actorrole="technician", correlationid="c")


def issue(work_order_id: UUID, title: str = "Fix chiller") -> IssueWorkOrder:
    return IssueWorkOrder(
        work_order_id=work_order_id,
        title=title,
        description="",
        site=Site(name="Plant 2", address="Industriestr. 4"),
        asset=Asset(id="CH-7"),
        customer=None,
        priority=Priority.high,
        due_at=None,
        leader="lead",
        members=("m1", "m2"),
        min_photos_per_member=1,
        actor="dora",
        actor_role="dispatcher",
    )


def add_note(wo: UUID, key: str | None, findings: str = "seal worn") -> AddNote:
    return AddNote(
        work_order_id=wo,
        note_id=command_id(wo, "m1", "note", key),
        author="m1",
        author_role="technician",
        findings=findings,
        actions="",
        parts=(),
        labour_minutes=10,
    )


def submit(wo: UUID, key: str | None) -> SubmitReport:
    return SubmitReport(
        work_order_id=wo,
        report_id=command_id(wo, "lead", "report", key),
        actor="lead",
        actor_role="technician",
        summary="done",
        root_cause="",
        actions="",
        outcome=Outcome.resolved,
        parts=None,
        note_ids=None,
    )


def upload(wo: UUID, sha: str, uploader: str = "m1") -> UploadPhoto:
    return UploadPhoto(
        work_order_id=wo,
        uploader=uploader,
        sha256=sha,
        object_key=f"sha256/{sha}",
        content_type="image/jpeg",
        size=10,
        width=4,
        height=3,
    )


async def issued_log(wo: UUID) -> FakeEventLog:
    log = FakeEventLog()
    await log.append(issued(wo, leader="lead", members=("m1", "m2")), DORA)
    return log


async def test_issuing_twice_with_one_key_gives_the_first_work_order() -> None:
    log, wo = FakeEventLog(), dispatch.work_order_id_for("dora", "key-1")
    first = await dispatch.issue_work_order(log, issue(wo), DORA)
    again = await dispatch.issue_work_order(log, issue(wo), DORA)
    assert not first.replayed and again.replayed
    assert again.recorded == first.recorded and len(log.events) == 1
    assert isinstance(log.events[0], WorkOrderIssued) and log.events[0].title == "Fix chiller"
    with pytest.raises(InvalidCommandError, match="Idempotency-Key"):
        await dispatch.issue_work_order(log, issue(wo, title="Other"), DORA)
    assert (await dispatch.get_work_order(log, wo)).issued == first.recorded[0]


async def test_a_retried_note_is_found_and_a_reused_key_refused() -> None:
    wo = uuid4()
    log = await issued_log(wo)
    first = await team.add_note(log, add_note(wo, "k"), M1)
    again = await team.add_note(log, add_note(wo, "k"), M1)
    assert again.replayed and again.recorded == first.recorded
    with pytest.raises(InvalidCommandError, match="Idempotency-Key"):
        await team.add_note(log, add_note(wo, "k", findings="other"), M1)
    assert [type(e) for e in log.events] == [WorkOrderIssued, MemberNoteAdded]


async def test_a_note_that_loses_the_race_to_the_report_is_refused() -> None:
    wo = uuid4()
    log = await issued_log(wo)
    log.interleave(report(wo, "lead", ()))
    with pytest.raises(ConflictError) as refused:
        await team.add_note(log, add_note(wo, None), M1)
    assert refused.value.code == "report_already_submitted"
    assert not any(isinstance(e, MemberNoteAdded) for e in log.events)


async def test_the_report_retried_after_a_lost_answer_is_the_same_report() -> None:
    wo = uuid4()
    log = await issued_log(wo)
    await team.add_note(log, add_note(wo, "n"), M1)
    first = await team.submit_report(log, submit(wo, "r"), LEAD)
    again = await team.submit_report(log, submit(wo, "r"), LEAD)
    assert again.replayed and again.recorded == first.recorded
    with pytest.raises(ConflictError):  # another key: a second report
        await team.submit_report(log, submit(wo, "r2"), LEAD)
    assert len(log.events) == 3


async def test_a_photo_under_a_used_key_is_the_same_photo_and_other_bytes_are_refused() -> None:
    wo = uuid4()
    log = await issued_log(wo)
    first = await photos.record_upload(log, upload(wo, "a" * 64), M1, "k")
    again = await photos.record_upload(log, upload(wo, "a" * 64), M1, "k")
    assert first.recorded and not again.recorded and again.photo == first.photo
    with pytest.raises(InvalidCommandError, match="Idempotency-Key"):
        await photos.record_upload(log, upload(wo, "b" * 64), M1, "k")
    assert len(log.events) == 2


async def test_the_same_bytes_without_a_key_credit_each_uploader_once() -> None:
    wo = uuid4()
    log = await issued_log(wo)
    await photos.record_upload(log, upload(wo, "a" * 64), M1, None)
    mine_again = await photos.record_upload(log, upload(wo, "a" * 64), M1, None)
    leaders = await photos.record_upload(log, upload(wo, "a" * 64, "lead"), LEAD, None)
    assert not mine_again.recorded and leaders.recorded and leaders.duplicate
    assert leaders.photo.uploaders == ["m1", "lead"] and len(log.events) == 3
