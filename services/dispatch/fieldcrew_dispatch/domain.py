"""Dispatch's rules: who may issue a work order, and what a valid crew is.

Pure: ``decide_issue(history, command) -> events``; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fieldcrew_shared.errors import ForbiddenError, InvalidCommandError, NotFoundError
from fieldcrew_shared.events import Crew, Event, Priority, WorkOrderIssued

ISSUING_ROLES = frozenset({"dispatcher", "admin"})


@dataclass(frozen=True)
class IssueWorkOrder:
    work_order_id: UUID
    title: str
    description: str
    site: str
    asset: str
    priority: Priority
    due_at: datetime | None
    leader: str
    members: tuple[str, ...]
    min_photos_per_member: int
    actor: str
    actor_role: str


def decide_issue(history: list[Event], cmd: IssueWorkOrder) -> list[Event]:
    """Issue the work order, or nothing when this exact order was already issued (a retry)."""
    if cmd.actor_role not in ISSUING_ROLES:
        raise ForbiddenError("only a dispatcher may issue work orders")
    event = WorkOrderIssued(
        work_order_id=cmd.work_order_id,
        title=cmd.title,
        description=cmd.description,
        site=cmd.site,
        asset=cmd.asset,
        priority=cmd.priority,
        due_at=cmd.due_at,
        crew=_crew(cmd.leader, cmd.members),
        min_photos_per_member=cmd.min_photos_per_member,
        issued_by=cmd.actor,
    )
    issued = [e for e in history if isinstance(e, WorkOrderIssued)]
    if issued:
        if issued[0] == event:
            return []
        raise InvalidCommandError(
            "this Idempotency-Key was already used for a different work order",
            code="idempotency_key_reused",
        )
    return [event]


def _crew(leader: str, members: tuple[str, ...]) -> Crew:
    if leader in members:
        raise InvalidCommandError("the leader must not also be listed among the members")
    if len(set(members)) != len(members):
        raise InvalidCommandError("a crew member is listed twice")
    return Crew(leader=leader, members=members)


def issued_work_order(history: list[Event]) -> WorkOrderIssued:
    """The work order a history describes; NotFoundError when it was never issued."""
    for event in history:
        if isinstance(event, WorkOrderIssued):
            return event
    raise NotFoundError("no such work order")
