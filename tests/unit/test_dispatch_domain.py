from __future__ import annotations

from uuid import uuid4

import pytest
from fieldcrew_dispatch.domain import IssueWorkOrder, decide_issue, fold
from fieldcrew_shared.errors import ConflictError, ForbiddenError, InvalidCommandError
from fieldcrew_shared.events import Asset, Priority, Site, WorkOrderIssued

from tests.unit.factories import history


def cmd(**kw: object) -> IssueWorkOrder:
    fields: dict[str, object] = dict(
        work_order_id=uuid4(),
        title="Fix chiller",
        description="",
        site=Site(name="Plant 2", address="Industriestr. 4"),
        asset=Asset(id="CH-7"),
        customer=None,
        priority=Priority.high,
        due_at=None,
        leader="lead",
        members=("m1", "m2"),
        min_photos_per_member=1,
        actor="disp",
        actor_role="dispatcher",
    )
    fields.update(kw)
    return IssueWorkOrder(**fields)  # type: ignore[arg-type]


def test_a_dispatcher_issues_a_work_order_to_a_crew() -> None:
    [event] = decide_issue(None, cmd())
    assert isinstance(event, WorkOrderIssued)
    assert event.crew.leader == "lead" and event.crew.members == ("m1", "m2")
    assert event.issued_by == "disp"


@pytest.mark.parametrize("role", ["technician", "analyst"])
def test_only_office_staff_issue_work_orders(role: str) -> None:
    with pytest.raises(ForbiddenError):
        decide_issue(None, cmd(actor_role=role))


def test_the_leader_is_not_also_a_member_and_members_are_unique() -> None:
    with pytest.raises(InvalidCommandError):
        decide_issue(None, cmd(members=("lead", "m1")))
    with pytest.raises(InvalidCommandError):
        decide_issue(None, cmd(members=("m1", "m1")))


def test_a_work_order_is_issued_once() -> None:
    first = cmd()
    issued = fold(history(*decide_issue(None, first)))
    with pytest.raises(ConflictError):
        decide_issue(issued, first)
