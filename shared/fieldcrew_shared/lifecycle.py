"""A work order's lifecycle as its events tell it (docs/design.md §12): the current crew, the
report versions, who started, rejected or cancelled it, and its status. One reading of the
contract for every service; which command may move a work order where is each service's own
rule (its ``domain`` module), and the aggregator keeps the same facts in its progress.

    issued ─start→ in_progress ─report→ report_submitted ─compiled→ completed
    report_submitted, completed ─reject→ rework ─report v2→ report_submitted
    issued, in_progress, report_submitted, rework ─cancel→ cancelled

A report may also come straight from ``issued`` (clients that do not send ``start``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fieldcrew_shared.events import (
    Crew,
    CrewChanged,
    LeaderReportRejected,
    LeaderReportSubmitted,
    ServerReportCompiled,
    WorkOrderCancelled,
    WorkOrderIssued,
    WorkOrderStarted,
)
from fieldcrew_shared.records import Recorded


class Status(StrEnum):
    issued = "issued"
    in_progress = "in_progress"
    report_submitted = "report_submitted"
    rework = "rework"
    completed = "completed"
    cancelled = "cancelled"


CLOSED = frozenset({Status.completed, Status.cancelled})
"""Statuses in which a work order is no longer due."""


def status_of(
    *,
    cancelled: bool,
    started: bool,
    report_version: int,
    rejected_version: int,
    compiled_version: int,
) -> Status:
    """The status facts give: a cancellation wins; then the newest report (``report_version``,
    0 for none) is under rework when it was rejected, completed when a server report was
    compiled from it, else submitted; without a report, in progress once started."""
    if cancelled:
        return Status.cancelled
    if report_version:
        if rejected_version >= report_version:
            return Status.rework
        if compiled_version >= report_version:
            return Status.completed
        return Status.report_submitted
    return Status.in_progress if started else Status.issued


def is_overdue(due_at: datetime | None, status: Status, now: datetime) -> bool:
    """Due and not done: past ``due_at`` while neither completed nor cancelled."""
    return due_at is not None and now > due_at and status not in CLOSED


@dataclass(frozen=True)
class Lifecycle:
    """An issued work order's lifecycle, folded from its history in log order."""

    issued: Recorded
    crew: Crew
    crew_changes: tuple[Recorded, ...] = ()
    started: Recorded | None = None
    reports: tuple[Recorded, ...] = ()
    rejections: tuple[Recorded, ...] = ()
    cancelled: Recorded | None = None
    compiled_version: int = 0

    @property
    def work_order(self) -> WorkOrderIssued:
        assert isinstance(self.issued.event, WorkOrderIssued)
        return self.issued.event

    @property
    def report(self) -> LeaderReportSubmitted | None:
        """The newest report version, None before the first."""
        event = self.reports[-1].event if self.reports else None
        return event if isinstance(event, LeaderReportSubmitted) else None

    @property
    def report_version(self) -> int:
        return self.report.report_version if self.report is not None else 0

    @property
    def status(self) -> Status:
        rejected = [e.report_version for e in _rejections(self.rejections)]
        return status_of(
            cancelled=self.cancelled is not None,
            started=self.started is not None,
            report_version=self.report_version,
            rejected_version=max(rejected, default=0),
            compiled_version=self.compiled_version,
        )

    def overdue(self, now: datetime) -> bool:
        return is_overdue(self.work_order.due_at, self.status, now)


def _rejections(records: Iterable[Recorded]) -> list[LeaderReportRejected]:
    return [r.event for r in records if isinstance(r.event, LeaderReportRejected)]


def fold_lifecycle(history: Iterable[Recorded]) -> Lifecycle | None:
    """The lifecycle of the work order ``history`` is of; None when it was never issued."""
    issued: Recorded | None = None
    crew: Crew | None = None
    changes, reports, rejections = [], [], []
    started = cancelled = None
    compiled = 0
    for record in history:
        event = record.event
        if isinstance(event, WorkOrderIssued) and issued is None:
            issued, crew = record, event.crew
        elif isinstance(event, CrewChanged):
            changes.append(record)
            crew = event.crew
        elif isinstance(event, WorkOrderStarted) and started is None:
            started = record
        elif isinstance(event, LeaderReportSubmitted):
            reports.append(record)
        elif isinstance(event, LeaderReportRejected):
            rejections.append(record)
        elif isinstance(event, WorkOrderCancelled) and cancelled is None:
            cancelled = record
        elif isinstance(event, ServerReportCompiled):
            compiled = max(compiled, compiled_version(event))
    if issued is None or crew is None:
        return None
    return Lifecycle(
        issued,
        crew,
        tuple(changes),
        started,
        tuple(reports),
        tuple(rejections),
        cancelled,
        compiled,
    )


def compiled_version(event: ServerReportCompiled) -> int:
    """The report version a server report revision was compiled from (1 for revisions from
    before report versions; 0 for one without a leader's report): its announcement says."""
    return event.report_version
