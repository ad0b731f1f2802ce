"""MemberNoteAdded version 2 (readings): the new build reads version 1 notes through the
upcaster, and a build that knows only version 1 reads version 2 notes by ignoring the readings,
because the envelope says it may (``readablefrom``, ADR 0058)."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
from fieldcrew_shared.envelope import Metadata, decode, decode_event, encode, payload, seal
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import (
    MemberNoteAdded,
    MemberNoteAddedV1,
    Phase,
    Reading,
)

from tests.previous_release import note_as_written_then, read_then
from tests.unit.factories import note

GOLDEN = Path(__file__).parent.parent / "golden"
META = Metadata(actor="max", actorrole="technician", correlationid="c-1")
V1_FIELDS = set(MemberNoteAddedV1.model_fields)


def golden(name: str) -> bytes:
    return (GOLDEN / f"fieldcrew.team.{name}.json").read_bytes()


def test_a_version_1_note_is_read_as_version_2_without_readings() -> None:
    envelope, event = decode_event(golden("MemberNoteAdded.v1"))
    assert envelope.readablefrom is None
    assert isinstance(event, MemberNoteAdded) and event.readings == ()
    assert event.model_dump(include=V1_FIELDS) == read_then(envelope).model_dump()


def test_a_version_2_note_carries_its_readings() -> None:
    envelope, event = decode_event(golden("MemberNoteAdded.v2"))
    assert envelope.type == MemberNoteAdded.type_name() and envelope.readablefrom == 1
    assert isinstance(event, MemberNoteAdded)
    assert [(r.value, r.unit, r.phase) for r in event.readings] == [
        (2.1, "bar", Phase.before),
        (4.2, "bar", Phase.after),
    ]


def test_a_reader_that_knows_only_version_1_reads_version_2_ignoring_the_readings() -> None:
    envelope, new = decode_event(golden("MemberNoteAdded.v2"))
    old = read_then(envelope)
    assert isinstance(old, MemberNoteAddedV1) and isinstance(new, MemberNoteAdded)
    assert old.model_dump() == new.model_dump(include=V1_FIELDS)


def test_a_newer_version_that_does_not_say_so_is_not_read_as_an_older_one() -> None:
    """Without ``readablefrom`` (or from a later version than the reader knows) the data may
    mean something else: the old reader sets it aside instead of guessing."""
    doc = json.loads(golden("MemberNoteAdded.v2"))
    for readable_from in (None, 2):
        changed = {**doc, "readablefrom": readable_from}
        with pytest.raises(PoisonEventError, match="unknown event type"):
            read_then(decode(json.dumps(changed).encode()))
    v3 = {**doc, "type": "fieldcrew.team.MemberNoteAdded.v3", "schemaversion": 3}
    assert isinstance(read_then(decode(json.dumps(v3).encode())), MemberNoteAddedV1)
    assert isinstance(payload(decode(json.dumps(v3).encode())), MemberNoteAdded)


def test_what_the_previous_writer_recorded_is_read_by_both_builds() -> None:
    current = note(uuid4(), "max", parts=(("SEAL-40", 1),))
    raw = encode(seal(note_as_written_then(current), META, source="fieldcrew/team"))
    envelope, event = decode_event(raw)
    assert envelope.type == "fieldcrew.team.MemberNoteAdded.v1"
    assert event == current
    assert read_then(envelope).model_dump() == current.model_dump(include=V1_FIELDS)


def test_the_current_writer_says_version_1_readers_may_read_its_notes() -> None:
    reading = Reading(name="current", value=12.5, unit="A")
    measured = note(uuid4(), "ida").model_copy(update={"readings": (reading,)})
    envelope = decode(encode(seal(measured, META, source="fieldcrew/team")))
    assert (envelope.type, envelope.schemaversion, envelope.readablefrom) == (
        "fieldcrew.team.MemberNoteAdded.v2",
        2,
        1,
    )
    assert payload(envelope) == measured
