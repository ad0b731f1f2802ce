"""The aggregator's events: a server report revision compiled (whole, or in parts when it is
large, ADR 0028) and a webhook registered (ADR 0043)."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from fieldcrew_shared.events.base import NO_WORK_ORDER, Event


class ServerReportCompiledV1(Event):
    """Version 1, as published: the whole report, always in this one message. Read only
    through its upcaster to :class:`ServerReportCompiled` (v2); kept to document the
    published schema."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportCompiled"
    version: ClassVar[int] = 1

    revision: int
    report: dict[str, Any] = Field(default_factory=dict)


class ServerReportCompiled(Event):
    """A revision of a work order's server report was compiled: its number, a summary, and
    the report itself, in ``report`` when it fits one message comfortably, else in the
    ``report_parts`` :class:`ServerReportPart` events appended just before (ADR 0028). Version 1
    always carried the whole report in one message, which a large report could not fit."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportCompiled"
    version: ClassVar[int] = 2

    revision: int
    compiled_at: datetime | None = None
    report_version: int = 0  # of the leader's report it was compiled from; 0: none
    cancelled: bool = False
    notes: int = 0
    photos: int = 0
    missing: int = 0
    report: dict[str, Any] | None = None
    report_parts: int = 0

    @model_validator(mode="before")
    @classmethod
    def _summary_of_its_report(cls, data: Any) -> Any:
        """The summary of the report it carries, where not given."""
        if not isinstance(data, dict) or "report_version" in data:  # written with its summary
            return data
        report = data.get("report")
        return {**report_summary(report), **data} if isinstance(report, Mapping) else data


def server_report_compiled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 -> v2: the report, and its summary beside it (v2 sums up the report it carries)."""
    return data


class ServerReportPart(Event):
    """Part ``index`` of ``count`` of a server report revision too large for one message:
    ``chunk`` is a slice of the report's JSON, compressed and base64-encoded
    (:func:`split_report`, :func:`join_report`)."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "ServerReportPart"

    revision: int
    index: int
    count: int
    chunk: str


INLINE_REPORT_BYTES = 256 * 1024
"""A report whose JSON is larger than this travels in parts (NATS takes 1 MB a message by
default)."""

REPORT_PART_CHARS = 256 * 1024


def split_report(report_json: bytes) -> list[str]:
    """The chunks of :class:`ServerReportPart` events holding ``report_json``."""
    packed = base64.b64encode(zlib.compress(report_json)).decode("ascii")
    return [packed[i : i + REPORT_PART_CHARS] for i in range(0, len(packed), REPORT_PART_CHARS)]


def join_report(chunks: Sequence[str]) -> dict[str, Any]:
    """The report :func:`split_report` cut into ``chunks`` (in order)."""
    report: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode("".join(chunks))))
    return report


def report_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """What ``ServerReportCompiled`` says of a compiled report beside it: when it was
    compiled, from which version of the leader's report (1 for reports from before report
    versions, 0 without a leader's report), whether the work order was cancelled, how many
    notes and distinct photos it holds, how many things it lists as missing."""
    contributions = report.get("contributions") or ()
    version = report.get("report_version", 1 if report.get("leader_report") else 0)
    return {
        "compiled_at": report.get("compiled_at"),
        "report_version": int(version),
        "cancelled": bool(report.get("cancelled")),
        "notes": sum(len(c.get("notes") or ()) for c in contributions),
        "photos": len(report.get("photos") or ()),
        "missing": len(report.get("missing") or ()),
    }


class WebhookRegistered(Event):
    """An admin registered a URL to be sent every event of the types it names (``*``: all).
    Its URL and signing secret are ``sealed``: encrypted with the aggregator's webhook key, so
    that no reader of the log learns where events go or how they are signed (ADR 0043)."""

    context: ClassVar[str] = "aggregator"
    name: ClassVar[str] = "WebhookRegistered"
    about_work_order: ClassVar[bool] = False
    aggregate_parameter: ClassVar[str] = "webhookId"

    work_order_id: UUID = Field(default=NO_WORK_ORDER, exclude=True)
    webhook_id: UUID
    event_types: tuple[str, ...]
    sealed: str
    registered_by: str

    @property
    def aggregate_id(self) -> UUID:
        return self.webhook_id
