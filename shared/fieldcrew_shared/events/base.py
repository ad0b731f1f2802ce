"""The base of every event, and the NATS subjects events travel on."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

NO_WORK_ORDER = UUID(int=0)
"""The ``work_order_id`` of an event that is not about a work order."""


class Event(BaseModel):
    """Base of every event. ``context`` and ``name`` place it on the bus.

    Almost every event is about a work order, and its subject names it. An event of another
    aggregate (a webhook subscription) sets ``about_work_order`` False, names its own id in
    ``aggregate_id``, and leaves ``work_order_id`` as ``NO_WORK_ORDER`` (ADR 0043)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    context: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[int] = 1
    readable_from: ClassVar[int | None] = None
    """The oldest version of this event whose readers may read this one as theirs, by ignoring
    the fields they do not know (this version only adds fields); None: none older (ADR 0058)."""
    about_work_order: ClassVar[bool] = True
    aggregate_parameter: ClassVar[str] = "workOrderId"  # its id's name in docs/asyncapi.json

    work_order_id: UUID

    @classmethod
    def type_name(cls) -> str:
        """The CloudEvents ``type``, e.g. ``fieldcrew.team.MemberNoteAdded.v1``."""
        return f"fieldcrew.{cls.context}.{cls.name}.v{cls.version}"

    @property
    def aggregate_id(self) -> UUID:
        """The id its subject names (the CloudEvents ``subject``): the work order's."""
        return self.work_order_id

    @property
    def subject(self) -> str:
        """The NATS subject: ``fieldcrew.<context>.<work_order_id>.<EventName>``."""
        return subject_for(self.context, self.aggregate_id, self.name)


def subject_for(context: str, work_order_id: UUID | str, name: str = ">") -> str:
    """Subject (or wildcard filter with ``name='>'``) of one aggregate's events."""
    return f"fieldcrew.{context}.{work_order_id}.{name}"


def work_order_subjects(work_order_id: UUID | str) -> str:
    """Every event of one work order, whichever context wrote it: its whole history, and the
    consistency boundary of its commands (docs/design.md §3)."""
    return f"fieldcrew.*.{work_order_id}.>"
