"""Dispatch's rules: who may issue a work order, and what a valid crew is.

Pure: ``fold(history) -> work order`` and ``decide_issue(work order, command) -> events``, run
by the command pipeline (``fieldcrew_shared.commands``), which also answers a client's retry.
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
from fieldcrew_shared.events import Asset, Crew, Customer, Event, Priority, Site, WorkOrderIssued
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


def fold(history: Iterable[Recorded]) -> Recorded | None:
    """Dispatch's view of a work order: the record of its issue, None before."""
    return next((r for r in history if isinstance(r.event, WorkOrderIssued)), None)


def decide_issue(issued: Recorded | None, cmd: IssueWorkOrder) -> list[Event]:
    """Issue the work order (a work order is issued once: its id names it)."""
    if cmd.actor_role not in ISSUING_ROLES:
        raise ForbiddenError("only a dispatcher may issue work orders")
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


def _crew(leader: str, members: tuple[str, ...]) -> Crew:
    if leader in members:
        raise InvalidCommandError("the leader must not also be listed among the members")
    if len(set(members)) != len(members):
        raise InvalidCommandError("a crew member is listed twice")
    return Crew(leader=leader, members=members)


def issued_work_order(issued: Recorded | None) -> Recorded:
    """The record of the work order's issue; NotFoundError when it was never issued."""
    if issued is None:
        raise NotFoundError("no such work order")
    return issued
