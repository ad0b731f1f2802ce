"""Team's handlers: load the work order and the team's history, decide, append."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.events import Event, WorkOrderIssued, subject_for
from fieldcrew_shared.eventstore import EventStore, Loaded, Recorded

from fieldcrew_team.domain import (
    AddNote,
    SubmitReport,
    TeamState,
    decide_add_note,
    decide_submit_report,
    fold,
)

NAMESPACE = uuid.UUID("2d0f0c52-3c8e-4a0b-8f0e-5b8f5a7c9e21")


def command_id(work_order_id: uuid.UUID, actor: str, kind: str, key: str | None) -> uuid.UUID:
    """Id of a note or report: derived from the Idempotency-Key so that a retry names the same
    thing; random without a key."""
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(NAMESPACE, f"{work_order_id}\n{actor}\n{kind}\n{key}")


@dataclass(frozen=True)
class TeamView:
    work_order: WorkOrderIssued | None
    state: TeamState
    loaded: Loaded


async def load(store: EventStore, work_order_id: uuid.UUID) -> TeamView:
    """The work order as dispatch issued it and the team's own history of it."""
    issued = await store.last(subject_for("dispatch", work_order_id, "WorkOrderIssued"))
    loaded = await store.load(subject_for("team", work_order_id))
    work_order = issued.event if issued and isinstance(issued.event, WorkOrderIssued) else None
    return TeamView(work_order=work_order, state=fold(loaded.events), loaded=loaded)


@dataclass(frozen=True)
class Outcome:
    """The event a command produced, or found when the command was a retry."""

    record: Recorded
    replayed: bool


async def add_note(store: EventStore, cmd: AddNote, meta: Metadata) -> Outcome:
    view = await load(store, cmd.work_order_id)
    events = decide_add_note(view.work_order, view.state, cmd)
    return await _commit(store, view, events, meta, cmd.note_id)


async def submit_report(store: EventStore, cmd: SubmitReport, meta: Metadata) -> Outcome:
    view = await load(store, cmd.work_order_id)
    events = decide_submit_report(view.work_order, view.state, cmd)
    return await _commit(store, view, events, meta, cmd.report_id)


async def _commit(
    store: EventStore, view: TeamView, events: list[Event], meta: Metadata, entity: uuid.UUID
) -> Outcome:
    """Append the decided event; with none decided, return the earlier one (a retry)."""
    if not events:
        return Outcome(_find(view.loaded, entity), replayed=True)
    event = events[0]
    appended = await store.append(
        event,
        meta,
        expected_version=view.loaded.version,
        aggregate=subject_for("team", event.work_order_id),
    )
    return Outcome(Recorded(appended.seq, appended.envelope, event), replayed=False)


def _find(loaded: Loaded, entity: uuid.UUID) -> Recorded:
    for record in loaded.records:
        if entity in (
            getattr(record.event, "note_id", None),
            getattr(record.event, "report_id", None),
        ):
            return record
    raise LookupError(entity)
