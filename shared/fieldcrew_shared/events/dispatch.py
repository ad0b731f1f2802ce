"""The dispatch service's events: a work order issued, its crew changed, the leader's report
sent back, the work order cancelled; and the records they carry (crew, site, asset, customer)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from fieldcrew_shared.events.base import Event


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Crew(BaseModel):
    """A repair crew: the leader and the other members, named by user id (token ``sub``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    leader: str
    members: tuple[str, ...] = ()

    @property
    def everyone(self) -> tuple[str, ...]:
        """Leader first, then the members, without repeats."""
        return (self.leader, *[m for m in self.members if m != self.leader])


class Site(BaseModel):
    """Where the work is: a name (the site's, or a plain text a client sent), its address, and
    its position when known."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    address: str = ""
    lat: float | None = None
    lon: float | None = None


class Asset(BaseModel):
    """What is repaired: the customer's id for it, and its model and serial number when known."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    model: str = ""
    serial: str = ""


class Customer(BaseModel):
    """Whom the work is for, and how to reach them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    phone: str = ""
    email: str = ""


class WorkOrderIssuedV1(Event):
    """Version 1, as published: site and asset as plain text ("" when none). Read only through
    its upcaster to :class:`WorkOrderIssued` (v2); kept to document the published schema."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderIssued"
    version: ClassVar[int] = 1

    title: str
    description: str = ""
    site: str = ""
    asset: str = ""
    priority: Priority = Priority.normal
    due_at: datetime | None = None
    crew: Crew
    min_photos_per_member: int = 1
    issued_by: str


class WorkOrderIssued(Event):
    """Version 2: site, asset and customer as structured records (None when not given)."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderIssued"
    version: ClassVar[int] = 2

    title: str
    description: str = ""
    site: Site | None = None
    asset: Asset | None = None
    customer: Customer | None = None
    priority: Priority = Priority.normal
    due_at: datetime | None = None
    crew: Crew
    min_photos_per_member: int = 1
    issued_by: str


def issued_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 site is the v2 site's name, a v1 asset the v2 asset's id; "" is none."""
    site, asset = data.get("site") or "", data.get("asset") or ""
    return {
        **data,
        "site": {"name": site} if site else None,
        "asset": {"id": asset} if asset else None,
        "customer": None,
    }


class WorkOrderCancelled(Event):
    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "WorkOrderCancelled"

    reason: str
    cancelled_by: str


class CrewChanged(Event):
    """The office changed the crew: ``previous`` is the crew before, ``crew`` the crew after."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "CrewChanged"

    change: int
    """1 for the first change of this work order's crew, 2 for the next, ..."""
    previous: Crew
    crew: Crew
    changed_by: str


class LeaderReportRejected(Event):
    """The office sent the leader's report (``version``) back to the crew for rework."""

    context: ClassVar[str] = "dispatch"
    name: ClassVar[str] = "LeaderReportRejected"

    report_id: UUID
    report_version: int
    reason: str
    rejected_by: str
