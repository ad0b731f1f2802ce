"""The aggregator's HTTP API: work-order status views and the final server report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fieldcrew_shared.access import OFFICE_ROLES, require_view
from fieldcrew_shared.api_models import MAX_QUERY_INT, WorkOrderStatus
from fieldcrew_shared.auth import Principal
from fieldcrew_shared.database import BoundedPool
from fieldcrew_shared.errors import InvalidCommandError, NotFoundError
from fieldcrew_shared.events import Crew, WorkOrderIssued, subject_for
from fieldcrew_shared.fingerprint import fingerprint
from fieldcrew_shared.projection import ProjectionRunner
from fieldcrew_shared.service import store_of
from fieldcrew_shared.web import CurrentPrincipal

from fieldcrew_aggregator import queries
from fieldcrew_aggregator.as_of import Moment, progress_as_of
from fieldcrew_aggregator.changes import changes
from fieldcrew_aggregator.domain import current_crew, empty_progress, evolve, summary
from fieldcrew_aggregator.timeline import timeline

router = APIRouter(prefix="/work-orders", tags=["work orders"])


def _runner(request: Request) -> tuple[BoundedPool, str]:
    """The projection's pool, each read bounded by ``backend_timeout``, and its live schema."""
    runner: ProjectionRunner = request.app.state.runner
    return BoundedPool(runner.pool, request.app.state.settings.backend_timeout), runner.schema


async def _visible_progress(
    request: Request, work_order_id: UUID, who: Principal
) -> queries.Positioned:
    """The work order's progress and the sequence of its newest event in it; when the
    projection has not seen the work order yet, what the log says."""
    pool, schema = _runner(request)
    progress, seq = await queries.progress_of(pool, schema, work_order_id) or (None, 0)
    if progress is None or progress["work_order"] is None:
        issued = await store_of(request).last(
            subject_for("dispatch", work_order_id, "WorkOrderIssued")
        )
        if issued is None or not isinstance(issued.event, WorkOrderIssued):
            raise NotFoundError("no such work order")
        progress = evolve(
            progress or empty_progress(str(work_order_id)),
            issued.event,
            issued.envelope.recorded_at,
        )
        seq = max(seq, issued.seq)
    require_view(Crew.model_validate(current_crew(progress)), who)
    return progress, seq


@router.get("")
async def list_work_orders(
    request: Request,
    principal: CurrentPrincipal,
    status: WorkOrderStatus | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT)] = 0,
) -> list[dict[str, Any]]:
    """Office roles see every work order; a technician those whose crew they are on.
    ``overdue=true``: only those past ``due_at`` and neither completed nor cancelled."""
    pool, schema = _runner(request)
    member = None if principal.role in OFFICE_ROLES else principal.sub
    now = datetime.now(UTC)
    rows = await queries.list_progress(
        pool,
        schema,
        crew_member=member,
        status=status,
        overdue_at=now if overdue else None,
        limit=limit,
        offset=offset,
    )
    return [{**summary(p, now), "seq": seq} for p, seq in rows]


@router.get("/{work_order_id}")
async def get_work_order(
    work_order_id: UUID, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Status and lifecycle, the current crew, counts and what is missing."""
    progress, seq = await _visible_progress(request, work_order_id, principal)
    return {**summary(progress, datetime.now(UTC)), "seq": seq}


@router.get("/{work_order_id}/server-report")
async def get_server_report(
    work_order_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    revision: Annotated[int | None, Query(ge=1, le=MAX_QUERY_INT)] = None,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The compiled server report (newest revision unless one is asked for, or as it stood
    at ``as_of``: a stream sequence or an RFC 3339 time); 404 before it was compiled."""
    await _visible_progress(request, work_order_id, principal)
    if as_of is not None:
        if revision is not None:
            raise InvalidCommandError("ask for a revision or as_of, not both", code="invalid_as_of")
        moment = Moment.parse(as_of)
        progress = await progress_as_of(store_of(request), work_order_id, moment)
        if progress["compiled"] is None:
            raise NotFoundError("the server report was not compiled by then", code="not_compiled")
        return {"revision": progress["revision"], **progress["compiled"]}
    pool, schema = _runner(request)
    found = await queries.server_report(pool, schema, work_order_id, revision)
    if found is None:
        raise NotFoundError("the server report is not compiled yet", code="not_compiled")
    number, report = found
    return {"revision": number, **report}


@router.get("/{work_order_id}/server-report/revisions")
async def list_revisions(
    work_order_id: UUID, request: Request, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    """Every revision of the server report, oldest first: when it was compiled, its
    fingerprint and what changed since the revision before."""
    await _visible_progress(request, work_order_id, principal)
    pool, schema = _runner(request)
    out, previous = [], None
    for number, report in await queries.revisions(pool, schema, work_order_id):
        served = {"revision": number, **report}
        out.append({
            "revision": number,
            "compiled_at": report["compiled_at"],
            "fingerprint": fingerprint(served),
            "changes": changes(previous, served),
        })  # fmt: skip
        previous = served
    return out


@router.get("/{work_order_id}/timeline")
async def get_timeline(
    work_order_id: UUID, request: Request, principal: CurrentPrincipal
) -> list[dict[str, Any]]:
    """Every event of the work order in the log, in the order recorded: who, when recorded,
    when it happened on the device, and what it is about."""
    await _visible_progress(request, work_order_id, principal)
    loaded = await store_of(request).load(f"fieldcrew.*.{work_order_id}.>")
    return timeline(loaded.records, office=principal.role in OFFICE_ROLES)
