"""Dispatch's rules: the office issues a work order to a valid crew, and then may change its
crew, send its report back for rework, or cancel it, each only where the lifecycle allows
(docs/design.md §12).

Pure: ``fold(history) -> Lifecycle`` and ``decide_*(lifecycle, command) -> events``, run by the
command pipeline (``fieldcrew_shared.commands``), which also answers a client's retry. A work
order nobody issued is NotFoundError for everyone; then the office-only rule (403); then the
state machine (409, with a code naming the rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fieldcrew_shared.errors import (
    ConflictError,
    ForbiddenError,
    InvalidCommandError,
    NotFoundError,
)
from fieldcrew_shared.events import (
    Asset,
    Crew,
    CrewChanged,
    Customer,
    Event,
    LeaderReportRejected,
    Priority,
    Site,
    WorkOrderCancelled,
    WorkOrderIssued,
)
from fieldcrew_shared.lifecycle import Lifecycle, Status, fold_lifecycle
from fieldcrew_shared.records import Recorded

ISSUING_ROLES = frozenset({"dispatcher", "admin"})


@dataclass(frozen=True)
class IssueWorkOrder:
    work_order_id: UUID
    title: str
    description: str
    site: Site | None
    asset: Asset | None
    customer: Customer | None
    priority: Priority
    due_at: datetime | None
    leader: str
    members: tuple[str, ...]
    min_photos_per_member: int
    actor: str
    actor_role: str


@dataclass(frozen=True)
class CancelWorkOrder:
    work_order_id: UUID
    reason: str
    actor: str
    actor_role: str


@dataclass(frozen=True)
class ChangeCrew:
    work_order_id: UUID
    leader: str
    members: tuple[str, ...]
    actor: str
    actor_role: str


@dataclass(frozen=True)
class RejectReport:
    work_order_id: UUID
    reason: str
    actor: str
    actor_role: str


CREW_CHANGEABLE = frozenset({Status.issued, Status.in_progress, Status.rework})
"""While the crew works: once the report is in, the crew that made it stays."""
REJECTABLE = frozenset({Status.report_submitted, Status.completed})


def fold(history: Iterable[Recorded]) -> Lifecycle | None:
    """Dispatch's view of a work order: its lifecycle, None before it was issued."""
    return fold_lifecycle(history)


def decide_issue(issued: Lifecycle | None, cmd: IssueWorkOrder) -> list[Event]:
    """Issue the work order (a work order is issued once: its id names it)."""
    _office(cmd.actor_role, "issue work orders")
    if issued is not None:
        raise ConflictError("this work order is already issued", code="already_issued")
    return [
        WorkOrderIssued(
            work_order_id=cmd.work_order_id,
            title=cmd.title,
            description=cmd.description,
            site=cmd.site,
            asset=cmd.asset,
            customer=cmd.customer,
            priority=cmd.priority,
            due_at=cmd.due_at,
            crew=_crew(cmd.leader, cmd.members),
            min_photos_per_member=cmd.min_photos_per_member,
            issued_by=cmd.actor,
        )
    ]


def decide_cancel(lc: Lifecycle | None, cmd: CancelWorkOrder) -> list[Event]:
    """Cancel a work order that is neither completed nor cancelled already."""
    lc = issued_work_order(lc)
    _office(cmd.actor_role, "cancel work orders")
    _not_cancelled(lc)
    if lc.status == Status.completed:
        raise ConflictError(
            "the work order is completed (its server report is compiled); it cannot be cancelled",
            code="work_order_completed",
        )
    return [
        WorkOrderCancelled(
            work_order_id=cmd.work_order_id, reason=cmd.reason, cancelled_by=cmd.actor
        )
    ]


def decide_change_crew(lc: Lifecycle | None, cmd: ChangeCrew) -> list[Event]:
    """Replace the crew while it works (issued, in progress, rework); the same crew again
    changes nothing."""
    lc = issued_work_order(lc)
    _office(cmd.actor_role, "change a crew")
    _not_cancelled(lc)
    if lc.status not in CREW_CHANGEABLE:
        raise ConflictError(
            f"the crew cannot change once the report is in (the work order is {lc.status})",
            code="crew_change_not_allowed",
        )
    crew = _crew(cmd.leader, cmd.members)
    if crew == lc.crew:
        return []
    change = len(lc.crew_changes) + 1
    return [
        CrewChanged(
            work_order_id=cmd.work_order_id,
            change=change,
            previous=lc.crew,
            crew=crew,
            changed_by=cmd.actor,
        )
    ]


def decide_reject(lc: Lifecycle | None, cmd: RejectReport) -> list[Event]:
    """Send the newest report back to the leader for rework."""
    lc = issued_work_order(lc)
    _office(cmd.actor_role, "reject a report")
    _not_cancelled(lc)
    report = lc.report
    if lc.status not in REJECTABLE or report is None:
        raise ConflictError(
            f"there is no submitted report to reject (the work order is {lc.status})",
            code="report_not_submitted",
        )
    return [
        LeaderReportRejected(
            work_order_id=cmd.work_order_id,
            report_id=report.report_id,
            report_version=report.report_version,
            reason=cmd.reason,
            rejected_by=cmd.actor,
        )
    ]


def _office(role: str, what: str) -> None:
    if role not in ISSUING_ROLES:
        raise ForbiddenError(f"only a dispatcher or an admin may {what}")


def _not_cancelled(lc: Lifecycle) -> None:
    if lc.status == Status.cancelled:
        raise ConflictError("the work order is cancelled", code="work_order_cancelled")


def _crew(leader: str, members: tuple[str, ...]) -> Crew:
    if leader in members:
        raise InvalidCommandError("the leader must not also be listed among the members")
    if len(set(members)) != len(members):
        raise InvalidCommandError("a crew member is listed twice")
    return Crew(leader=leader, members=members)


def issued_work_order(lc: Lifecycle | None) -> Lifecycle:
    """The work order's lifecycle; NotFoundError when it was never issued."""
    if lc is None:
        raise NotFoundError("no such work order")
    return lc
