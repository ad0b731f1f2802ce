"""Team's command and query handlers: each command through the one pipeline
(``fieldcrew_shared.commands``) with the team's fold and decisions."""

from __future__ import annotations

import uuid

from fieldcrew_shared.commands import CommandPipeline, EventLog, Executed
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.records import Loaded

from fieldcrew_team.domain import (
    AddNote,
    StartWork,
    SubmitReport,
    TeamState,
    decide_add_note,
    decide_start,
    decide_submit_report,
    fold,
)

PIPELINE = CommandPipeline(fold)
Done = Executed[TeamState]


async def load(log: EventLog, work_order_id: uuid.UUID) -> tuple[TeamState, Loaded]:
    """The team's view of the work order and its history."""
    return await PIPELINE.view(log, work_order_id)


async def add_note(log: EventLog, cmd: AddNote, meta: Metadata) -> Done:
    return await PIPELINE.run(
        log, cmd.work_order_id, cmd.note_id, lambda s: decide_add_note(s, cmd), meta
    )


async def submit_report(log: EventLog, cmd: SubmitReport, meta: Metadata) -> Done:
    return await PIPELINE.run(
        log, cmd.work_order_id, cmd.report_id, lambda s: decide_submit_report(s, cmd), meta
    )


async def start(log: EventLog, cmd: StartWork, command: uuid.UUID, meta: Metadata) -> Done:
    return await PIPELINE.run(log, cmd.work_order_id, command, lambda s: decide_start(s, cmd), meta)
