"""An analyst's projection: labour minutes per technician per week, from the crews' notes.

Run it into a schema of its own (docs/projections.md):

    .venv/bin/fieldcrew replay --projection examples.labour:LabourMinutesPerWeek \\
        --schema labour --follow

then ``SELECT * FROM labour.labour_minutes ORDER BY week, technician``.

A week is the ISO week (Monday to Sunday, UTC) of when the note's work was done (the event's
``occurred_at``: on the device, for work recorded offline). Only member notes count: a leader's
report merges the notes, and counting it too would count their minutes twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import asyncpg
from fieldcrew_shared.events import MemberNoteAdded
from fieldcrew_shared.eventstore import Recorded

DDL = """
CREATE TABLE IF NOT EXISTS {s}.labour_minutes (
    technician text NOT NULL,
    week date NOT NULL,
    minutes bigint NOT NULL,
    notes int NOT NULL,
    PRIMARY KEY (technician, week));
"""

ADD = """
INSERT INTO {s}.labour_minutes AS t VALUES ($1, $2, $3, 1)
ON CONFLICT (technician, week)
DO UPDATE SET minutes = t.minutes + excluded.minutes, notes = t.notes + 1
"""


def week_of(moment: datetime) -> date:
    """The Monday that starts ``moment``'s ISO week, in UTC."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


class LabourMinutesPerWeek:
    """Adds each note's labour minutes to its author's week. Adding is not idempotent by
    itself: it is exactly-once because the runner stores the log position in the same
    transaction, and skips what it has already applied."""

    name = "labour_minutes_per_week"

    def ddl(self, schema: str) -> str:
        return DDL.format(s=schema)

    async def apply(
        self, conn: asyncpg.Connection, schema: str, records: Sequence[Recorded]
    ) -> None:
        rows = []
        for record in records:
            event = record.event
            if not isinstance(event, MemberNoteAdded):
                continue
            if event.labour_minutes < 0:  # dead-lettered by the runner, the rest goes on
                raise ValueError(f"note {event.note_id} has negative labour minutes")
            rows.append((event.author, week_of(record.envelope.occurred_at), event.labour_minutes))
        if rows:
            await conn.executemany(ADD.format(s=schema), rows)
