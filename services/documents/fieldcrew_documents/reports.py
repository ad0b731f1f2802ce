"""Server reports as the log holds them: the aggregator announces every revision it compiles
(``ServerReportCompiled``), so this service reads them without asking the aggregator.

A revision is readable here a moment after the aggregator serves it (ADR 0018): until it is
announced, it is not compiled as far as documents are concerned.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fieldcrew_shared.errors import NotFoundError
from fieldcrew_shared.events import (
    ServerReportCompiled,
    ServerReportPart,
    WorkOrderIssued,
    join_report,
    subject_for,
)
from fieldcrew_shared.eventstore import EventStore

Report = dict[str, Any]


async def work_order(store: EventStore, work_order_id: UUID) -> WorkOrderIssued | None:
    """The work order as dispatch issued it, or None."""
    record = await store.last(subject_for("dispatch", work_order_id, "WorkOrderIssued"))
    if record is None or not isinstance(record.event, WorkOrderIssued):
        return None
    return record.event


async def revisions(store: EventStore, work_order_id: UUID) -> dict[int, Report]:
    """Every announced revision of the work order's server report, as the aggregator serves
    it (``{"revision": n, ...}``). A large report comes in parts, logged before its
    announcement (ADR 0028)."""
    loaded = await store.load(subject_for("aggregator", work_order_id))
    parts: dict[int, dict[int, str]] = {}
    out: dict[int, Report] = {}
    for event in loaded.events:
        if isinstance(event, ServerReportPart):
            parts.setdefault(event.revision, {}).setdefault(event.index, event.chunk)
        elif isinstance(event, ServerReportCompiled) and event.revision not in out:
            report = event.report
            if report is None:
                held = parts.get(event.revision, {})
                if any(i not in held for i in range(event.report_parts)):
                    continue  # a part the log does not hold: not readable here
                report = join_report([held[i] for i in range(event.report_parts)])
            out[event.revision] = {"revision": event.revision, **report}
    return out


def pick(reports: dict[int, Report], revision: int | None) -> Report:
    """The asked-for revision, or the newest; NotFoundError when there is none."""
    if not reports:
        raise NotFoundError("the server report is not compiled yet", code="not_compiled")
    if revision is None:
        return reports[max(reports)]
    if revision not in reports:
        raise NotFoundError(f"the server report has no revision {revision}", code="no_revision")
    return reports[revision]
