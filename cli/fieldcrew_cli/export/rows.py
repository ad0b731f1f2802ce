"""Stored events to Arrow tables, one per event type.

Most events are parsed by Arrow's JSON reader (C++, on whole batches) straight from the bytes
the log holds, with the type's columns as its explicit schema: no pydantic model and no Python
dict per event. What that cannot take goes the careful way, one event at a time, through
pydantic (:meth:`RawEvent.decoded`, as a projection reads it): an old version (upcast to the
current one), a type with a free-form field (kept as JSON text), a body that is not one line
of JSON, an event missing a field it needs. What even that refuses (not a fieldcrew event, an
unknown type, an event on another service's subjects, data not of its type) is not exported
but returned as rejected, with the reason, as a projection would dead-letter it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from fieldcrew_shared.envelope import encode
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.eventstore import RawEvent

from fieldcrew_cli.export.columns import ENVELOPE, EventColumns

# Envelope attributes every event has (the rest may be absent: causationid)
REQUIRED_ENVELOPE = ("id", "type", "source", "subject", "time", "recordedat", "actor")
_PARSE = {"block_size": 1 << 24}


@dataclass(frozen=True)
class Rejected:
    """An event the export leaves out, and why."""

    seq: int
    subject: str
    reason: str
    body: bytes


@dataclass
class Converted:
    """One batch of events as tables by type (``EventColumns.type_name``), and what was
    rejected or left out by the type filter."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    filtered: int = 0


@dataclass
class _Group:
    seqs: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    raws: list[RawEvent] = field(default_factory=list)


class Converter:
    """Turns batches of stored events into tables of ``columns`` (by current type), keeping
    only ``types`` when given."""

    def __init__(self, columns: dict[str, EventColumns], types: frozenset[str] | None) -> None:
        self.columns = columns
        self.types = types
        # the types read the quick way: nothing in them needs Python's eye
        self._quick = {name for name, c in columns.items() if not c.json_fields}

    def convert(self, raws: Iterable[RawEvent]) -> Converted:
        out = Converted()
        groups: dict[str, _Group] = {}
        for raw in raws:
            type_name = _quick_type(raw)
            if type_name is not None and type_name in self._quick:
                if self.types is not None and type_name not in self.types:
                    out.filtered += 1
                    continue
                group = groups.setdefault(type_name, _Group())
                group.seqs.append(raw.seq)
                group.bodies.append(raw.body)
                group.raws.append(raw)
            else:
                self._careful(raw, groups, out)
        for type_name, group in groups.items():
            table = self._table(self.columns[type_name], group, out)
            if table is not None and table.num_rows:
                out.tables[type_name] = table
        return out

    def _careful(self, raw: RawEvent, groups: dict[str, _Group], out: Converted) -> None:
        """One event through pydantic: decoded, its origin checked, upcast; its data then
        written back as the current version's JSON, free-form fields as JSON text."""
        try:
            record = raw.decoded()
        except PoisonEventError as exc:
            out.rejected.append(Rejected(raw.seq, raw.subject, exc.message, raw.body))
            return
        type_name = record.event.type_name()
        if self.types is not None and type_name not in self.types:
            out.filtered += 1
            return
        columns = self.columns.get(type_name)
        if columns is None:  # a type this build knows but the export was not told of
            reason = f"no export columns for {type_name}"
            out.rejected.append(Rejected(raw.seq, raw.subject, reason, raw.body))
            return
        data = record.event.model_dump(mode="json")
        for name in columns.json_fields:
            if data.get(name) is not None:
                data[name] = orjson.dumps(data[name]).decode()
        envelope = record.envelope.model_copy(update={"data": data})
        group = groups.setdefault(type_name, _Group())
        group.seqs.append(raw.seq)
        group.bodies.append(encode(envelope))
        group.raws.append(raw)

    def _table(self, columns: EventColumns, group: _Group, out: Converted) -> pa.Table | None:
        try:
            parsed = _parse(columns, group.bodies)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return self._one_by_one(columns, group, out)
        table = _shape(columns, group.seqs, parsed)
        incomplete = _incomplete(columns, parsed)
        if incomplete is None:
            return table
        # events missing something: their own reason from pydantic, or their defaults filled
        for i in pc.indices_nonzero(incomplete).to_pylist():
            self._careful_again(columns, group.raws[i], out)
        return table.filter(pc.invert(incomplete))

    def _one_by_one(self, columns: EventColumns, group: _Group, out: Converted) -> pa.Table:
        """A batch Arrow refused as a whole: each event on its own, to find the culprits."""
        tables = []
        for raw in group.raws:
            table = self._careful_again(columns, raw, out)
            if table is not None:
                tables.append(table)
        return pa.concat_tables(tables) if tables else columns.schema.empty_table()

    def _careful_again(
        self, columns: EventColumns, raw: RawEvent, out: Converted
    ) -> pa.Table | None:
        """One event the quick way could not take, as the careful way writes it."""
        groups: dict[str, _Group] = {}
        self._careful(raw, groups, out)
        group = groups.get(columns.type_name)
        if group is None:
            return None
        try:
            parsed = _parse(columns, group.bodies)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            out.rejected.append(Rejected(raw.seq, raw.subject, f"not exportable: {exc}", raw.body))
            return None
        if _incomplete(columns, parsed) is not None:
            reason = "a field the export needs is missing"
            out.rejected.append(Rejected(raw.seq, raw.subject, reason, raw.body))
            return None
        return _shape(columns, group.seqs, parsed)


def _quick_type(raw: RawEvent) -> str | None:
    """The event's type when it may take the quick way: a one-line body whose ``type`` and
    ``source`` belong to the subject's context (a misplaced event goes the careful way, which
    rejects it). None otherwise."""
    body, subject = raw.body, raw.subject
    if b"\n" in body or not subject.startswith("fieldcrew."):
        return None
    context = subject[10 : subject.find(".", 10)]
    data_at = body.find(b'"data":')
    type_name = _attribute(body, b'"type":"', data_at)
    if type_name is None or not type_name.startswith(f"fieldcrew.{context}."):
        return None
    if _attribute(body, b'"source":"', data_at) != f"fieldcrew/{context}":
        return None
    return type_name


def _attribute(body: bytes, key: bytes, data_at: int) -> str | None:
    """A top-level text attribute of a compact envelope, written before ``data`` (at
    ``data_at``) as the envelope's own attributes are."""
    at = body.find(key, 0, data_at)
    if at < 0:
        return None
    start = at + len(key)
    end = body.find(b'"', start)
    value = body[start:end]
    return None if b"\\" in value else value.decode()


def _parse(columns: EventColumns, bodies: Sequence[bytes]) -> pa.Table:
    options = pj.ParseOptions(
        explicit_schema=columns.parse_schema, unexpected_field_behavior="ignore"
    )
    source = io.BytesIO(b"\n".join(bodies))
    return pj.read_json(source, read_options=pj.ReadOptions(**_PARSE), parse_options=options)


def _incomplete(columns: EventColumns, parsed: pa.Table) -> pa.Array | None:
    """Which rows lack an envelope attribute or a required data field (None: none do)."""
    data = parsed.column("data").combine_chunks()
    missing = [parsed.column(name).is_null() for name in REQUIRED_ENVELOPE]
    missing.append(data.is_null())
    missing += [pc.struct_field(data, name).is_null() for name in columns.required]
    mask = missing[0]
    for more in missing[1:]:
        mask = pc.or_(mask, more)
    mask = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
    return mask if pc.any(mask).as_py() else None


def _shape(columns: EventColumns, seqs: list[int], parsed: pa.Table) -> pa.Table:
    """The parsed envelope and data as the export's columns, defaults filled in."""
    arrays: list[Any] = [pa.array(seqs, pa.int64())]
    arrays += [parsed.column(attr) for _, attr, _ in ENVELOPE if attr]
    if not columns.about_work_order:  # its subject is its own aggregate's id
        arrays[4] = pa.nulls(len(seqs), pa.string())
    data = parsed.column("data").combine_chunks()
    for f in columns.parse_schema.field("data").type:
        values = pc.struct_field(data, f.name)
        default = columns.defaults.get(f.name)
        if default is not None:
            values = pc.fill_null(values, pa.scalar(default, f.type))
        arrays.append(values)
    return pa.Table.from_arrays(arrays, schema=columns.schema)
