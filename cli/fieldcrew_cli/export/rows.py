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

from collections.abc import Sequence
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
from fieldcrew_cli.export.triage import joined, triage

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
    joined: pa.Buffer | None = None  # the bodies one a line, when already joined

    def lines(self) -> bytes | pa.Buffer:
        return self.joined if self.joined is not None else b"\n".join(self.bodies)


class Converter:
    """Turns batches of stored events into tables of ``columns`` (by current type), keeping
    only ``types`` when given."""

    def __init__(self, columns: dict[str, EventColumns], types: frozenset[str] | None) -> None:
        self.columns = columns
        self.types = types
        # the types read the quick way (nothing in them needs Python's eye), with their context
        self._quick = {
            name: c.table_name.split(".", 1)[0] for name, c in columns.items() if not c.json_fields
        }

    def convert(self, raws: Sequence[RawEvent]) -> Converted:
        out = Converted()
        sorted_out = triage(raws, self._quick)
        quick: dict[str, _Group] = {}
        for type_name, indices in sorted_out.quick.items():
            if self.types is not None and type_name not in self.types:
                out.filtered += len(indices)
                continue
            quick[type_name] = _Group(
                seqs=[raws[i].seq for i in indices.to_pylist()],
                raws=[raws[i] for i in indices.to_pylist()],
                joined=joined(sorted_out.bodies, indices),
            )
        careful: dict[str, _Group] = {}
        for i in sorted_out.careful:
            self._careful(raws[i], careful, out)
        for type_name in [*quick, *(name for name in careful if name not in quick)]:
            table = self._tables(self.columns[type_name], quick, careful, out)
            if table is not None and table.num_rows:
                out.tables[type_name] = table
        return out

    def _tables(
        self,
        columns: EventColumns,
        quick: dict[str, _Group],
        careful: dict[str, _Group],
        out: Converted,
    ) -> pa.Table | None:
        """The type's rows taken the quick way and the careful way, in sequence order."""
        groups = [g[columns.type_name] for g in (quick, careful) if columns.type_name in g]
        tables = [t for g in groups if (t := self._table(columns, g, out)) is not None]
        if len(tables) < 2:
            return tables[0] if tables else None
        table = pa.concat_tables(tables)
        return table.take(pc.sort_indices(table, [("sequence", "ascending")]))

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
            parsed = _parse(columns, group.lines())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return self._one_by_one(columns, group, out)
        if parsed.num_rows != len(group.seqs):  # a body of more lines than one
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
            parsed = _parse(columns, group.lines())
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            out.rejected.append(Rejected(raw.seq, raw.subject, f"not exportable: {exc}", raw.body))
            return None
        if _incomplete(columns, parsed) is not None:
            reason = "a field the export needs is missing"
            out.rejected.append(Rejected(raw.seq, raw.subject, reason, raw.body))
            return None
        return _shape(columns, group.seqs, parsed)


def _parse(columns: EventColumns, lines: bytes | pa.Buffer) -> pa.Table:
    options = pj.ParseOptions(
        explicit_schema=columns.parse_schema, unexpected_field_behavior="ignore"
    )
    source = pa.BufferReader(lines)
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
