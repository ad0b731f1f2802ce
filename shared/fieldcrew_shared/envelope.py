"""The CloudEvents 1.0 envelope (structured JSON mode) every fieldcrew event travels in.

One self-contained JSON document per message. Besides the required attributes we carry these
extensions (CloudEvents names are lowercase letters and digits only):

- ``correlationid``: the request or flow the event belongs to
- ``causationid``: the command or event that caused it
- ``actor`` / ``actorrole``: the user (token ``sub``) and role that acted
- ``schemaversion``: the payload's version, also visible as the ``.vN`` suffix of ``type``
- ``recordedat``: when the server stored it. ``time`` is when it happened on the device.
- ``readablefrom``: set when this version only adds fields to older ones: the oldest version
  whose readers may read it as theirs, ignoring the fields they do not know (ADR 0058)
- ``traceparent`` / ``tracestate``: the CloudEvents distributed-tracing extension, the W3C
  trace context of the span that appended the event (absent when none), so that whoever
  reads it can continue the trace (docs/adr/0056-traces.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union, cast
from uuid import UUID, uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from fieldcrew_shared import tracing
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import CATALOGUE, UPCASTERS, Event, next_version


class Metadata(BaseModel):
    """Who acted, in which flow, and when; everything of an envelope but the payload."""

    model_config = ConfigDict(frozen=True)

    actor: str
    actorrole: str
    correlationid: str
    causationid: str | None = None
    occurred_at: datetime | None = None
    # the trace to put the event in; None: the current span's (fieldcrew_shared.tracing)
    traceparent: str | None = None
    tracestate: str | None = None


class Envelope(BaseModel):
    """A CloudEvents 1.0 structured-mode event."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    correlationid: str
    causationid: str | None = None
    actor: str
    actorrole: str
    schemaversion: int
    recordedat: datetime
    readablefrom: int | None = None
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def occurred_at(self) -> datetime:
        return self.time

    @property
    def recorded_at(self) -> datetime:
        return self.recordedat


# What seal() copies: the constants set, every other field replaced by it
_BLANK = Envelope.model_construct(
    **(
        dict.fromkeys(Envelope.model_fields)
        | {"specversion": "1.0", "datacontenttype": "application/json"}
    )
)


def seal(event: Event, meta: Metadata, *, source: str, event_id: UUID | None = None) -> Envelope:
    """Wrap ``event`` in an envelope, stamped as recorded now."""
    now = datetime.now(UTC)
    traceparent: str | None
    tracestate: str | None
    if meta.traceparent is not None:
        traceparent, tracestate = meta.traceparent, meta.tracestate
    else:
        traceparent, tracestate = tracing.carrier()
    # Every value below comes from an already validated Event and Metadata, so validating the
    # envelope again would only repeat that work (about half of an append's CPU; bench/README.md).
    # A copy of a blank envelope with every field replaced: 16 us a seal against 27 for
    # ``model_construct``, which looks every field up again (bench/README.md).
    return _BLANK.model_copy(
        update={
            "id": str(event_id or uuid4()),
            "source": source,
            "type": event.type_name(),
            "subject": str(event.aggregate_id),
            "time": meta.occurred_at or now,
            "data": event.model_dump(mode="json"),
            "correlationid": meta.correlationid,
            "causationid": meta.causationid,
            "actor": meta.actor,
            "actorrole": meta.actorrole,
            "schemaversion": event.version,
            "recordedat": now,
            "readablefrom": event.readable_from,
            "traceparent": traceparent,
            "tracestate": tracestate,
        }
    )


def encode(envelope: Envelope) -> bytes:
    """The envelope as JSON, its unset (None) attributes left out: byte for byte what
    ``model_dump_json(exclude_none=True)`` writes, by orjson. Pydantic inferred the type of
    every value in ``data`` on every call: 7.5 -> 2.5 us an event hot, and an append one at
    a time spent ~25-60 us less between its waits on the network (bench/README.md)."""
    values = {**envelope.__dict__, **(envelope.__pydantic_extra__ or {})}
    return orjson.dumps(
        {key: value for key, value in values.items() if value is not None},
        option=orjson.OPT_UTC_Z,
    )


def decode(raw: bytes) -> Envelope:
    """Parse a message body; raises :class:`PoisonEventError` when it is not an envelope."""
    try:
        return Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise PoisonEventError(f"not a fieldcrew CloudEvent: {exc.errors()[:3]}") from exc


def check_origin(envelope: Envelope, subject: str) -> None:
    """Raise :class:`PoisonEventError` unless the event sits in its producer's subject space:
    on ``fieldcrew.<context>.…`` only ``source == "fieldcrew/<context>"`` publishes, and only
    ``fieldcrew.<context>.*`` event types (each service's NATS user may publish only there)."""
    tokens = subject.split(".")
    if len(tokens) < 3 or tokens[0] != "fieldcrew":
        raise PoisonEventError(f"subject {subject!r} is outside fieldcrew.<context>.>")
    context = tokens[1]
    if envelope.source != f"fieldcrew/{context}":
        raise PoisonEventError(
            f"source {envelope.source!r} does not match subject {subject!r}:"
            f" only 'fieldcrew/{context}' publishes there"
        )
    if not envelope.type.startswith(f"fieldcrew.{context}."):
        raise PoisonEventError(
            f"type {envelope.type!r} does not belong on subject {subject!r}:"
            f" only fieldcrew.{context}.* events are published there"
        )


def payload(envelope: Envelope, catalogue: Mapping[str, type[Event]] = CATALOGUE) -> Event:
    """The envelope's data as the current version of its event: an old version upcast, a newer
    one that says it may be read as ours (``readablefrom``) read with its new fields ignored.
    ``catalogue``: the versions this reader knows (another build's, in a test)."""
    decoded: object = envelope.data
    if isinstance(decoded, Event):  # from decode_event: validated as its event already
        if decoded.type_name() in catalogue:
            return decoded
        decoded = decoded.model_dump(mode="json")
    assert isinstance(decoded, dict)
    type_name, data = envelope.type, dict(decoded)
    while type_name not in catalogue and type_name in UPCASTERS:
        data = UPCASTERS[type_name](data)
        type_name = next_version(type_name)
    cls = catalogue.get(type_name) or _read_as_older(envelope, catalogue)
    if cls is None:
        raise PoisonEventError(f"unknown event type {envelope.type!r}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise PoisonEventError(f"{envelope.type} payload invalid: {exc.errors()[:3]}") from exc


def _read_as_older(envelope: Envelope, catalogue: Mapping[str, type[Event]]) -> type[Event] | None:
    """The version of the envelope's event that ``catalogue`` knows, when the envelope's newer
    version says readers of that one may read it (a reader not yet upgraded, ADR 0058)."""
    stem, _, version = envelope.type.rpartition(".v")
    oldest = envelope.readablefrom
    if oldest is None or not version.isdigit():
        return None
    known = next((c for t, c in catalogue.items() if t.rpartition(".v")[0] == stem), None)
    if known is None or not oldest <= known.version < int(version):
        return None
    return known


def _typed(cls: type[Event]) -> type[Envelope]:
    """An envelope whose ``type`` is ``cls``'s and whose data is validated as ``cls``."""
    tag = cast(Any, Literal)[cls.type_name()]
    name = f"{cls.__name__}Envelope"
    return create_model(name, __base__=Envelope, type=(tag, ...), data=(cls, ...))


# Every current event type's envelope, told apart by ``type``: one pass from JSON to the event
# instead of the envelope's data as a dict first and then the event from it (18.6 -> 11.5 us
# an event; bench/README.md).
_CURRENT = cast(Any, Union)[tuple(_typed(c) for c in CATALOGUE.values())]
_EVENTS: TypeAdapter[Envelope] = TypeAdapter(
    cast(Any, Annotated)[_CURRENT, Field(discriminator="type")]
)


def decode_event(raw: bytes) -> tuple[Envelope, Event]:
    """:func:`decode` and :func:`payload` in one: the envelope and its event. An event of a
    current type is validated in one pass (its envelope's ``data`` is then the event itself);
    anything else, an old version to upcast or a poison message, goes the two-step way, which
    raises :class:`PoisonEventError` with the reason."""
    try:
        envelope = _EVENTS.validate_json(raw)
    except ValidationError:
        envelope = decode(raw)
    return envelope, payload(envelope)
