"""The release before notes had readings, as a rolling upgrade meets it (ADR 0058): a build
whose catalogue has ``MemberNoteAdded`` at version 1, reading and writing the same log as the
current build.

- Its **reader** decodes as every build does, with its own catalogue: a version 1 note as is,
  a version 2 note as version 1 (the envelope says ``readablefrom: 1``), its readings ignored.
  Its aggregator folds a note's version 1 fields: :func:`as_it_saw` gives the note as that
  fold saw it, so that the current fold and compile stand for the old ones (they did not
  change but for the readings).
- Its **writer** decides a note by the same rules and records it as version 1
  (:func:`note_as_written_then`).

Builds from before ADR 0058 did not read a newer version at all: they set it aside as poison.
This stands for the build before the *next* new version of an event.
"""

from __future__ import annotations

from fieldcrew_shared.envelope import Envelope, payload
from fieldcrew_shared.events import CATALOGUE, Event, MemberNoteAdded, MemberNoteAddedV1

CATALOGUE_THEN: dict[str, type[Event]] = {
    **{name: cls for name, cls in CATALOGUE.items() if cls is not MemberNoteAdded},
    MemberNoteAddedV1.type_name(): MemberNoteAddedV1,
}
"""What the previous release knew: every current event, notes at version 1."""


def read_then(envelope: Envelope) -> Event:
    """The event as the previous release's reader decodes it (PoisonEventError if it could
    not)."""
    return payload(envelope, CATALOGUE_THEN)


def as_it_saw(event: Event) -> Event:
    """What the previous release's fold made of ``event``: a note's version 1 fields (the
    current note class, no readings), any other event as it is."""
    if isinstance(event, MemberNoteAddedV1):
        return MemberNoteAdded.model_validate(event.model_dump())
    return event


def note_as_written_then(note: MemberNoteAdded) -> MemberNoteAddedV1:
    """The note the previous release's team service would have recorded (it took no
    readings)."""
    assert not note.readings, "the previous release took no readings"
    return MemberNoteAddedV1.model_validate(note.model_dump(exclude={"readings"}))
