"""The columns of an export, worked out from the event catalogue.

Every event type is one table: the envelope's attributes first (``ENVELOPE``), then the
event's data, one column per field, typed from the JSON Schema pydantic gives of the event:
texts and ids as strings, whole numbers as int64, times as UTC timestamps, nested models as
structs, lists as lists, and free-form objects (``dict[str, Any]``) as JSON text. An event
added to the catalogue is exported with no change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from fieldcrew_shared.events import CATALOGUE, Event

UTC_TIME = pa.timestamp("us", tz="UTC")

# (column, the envelope attribute it comes from, type), in the order of the table
ENVELOPE: tuple[tuple[str, str, pa.DataType], ...] = (
    ("sequence", "", pa.int64()),
    ("id", "id", pa.string()),
    ("type", "type", pa.string()),
    ("source", "source", pa.string()),
    ("work_order_id", "subject", pa.string()),
    ("occurred_at", "time", UTC_TIME),
    ("recorded_at", "recordedat", UTC_TIME),
    ("actor", "actor", pa.string()),
    ("actor_role", "actorrole", pa.string()),
    ("correlation_id", "correlationid", pa.string()),
    ("causation_id", "causationid", pa.string()),
)
ENVELOPE_NAMES = frozenset(name for name, _, _ in ENVELOPE)
# in the data, but the envelope's ``subject`` already says it
SKIPPED_DATA = frozenset({"work_order_id"})


@dataclass(frozen=True)
class EventColumns:
    """How one event type is exported: the JSON a body is parsed with (``parse_schema``:
    the envelope's attributes with ``data`` as a struct), the table's own schema, which data
    fields are JSON text, which must be present, and the defaults of the others."""

    type_name: str
    table_name: str  # the folder of its files: ``<context>.<EventName>``
    parse_schema: pa.Schema
    schema: pa.Schema
    json_fields: frozenset[str]
    required: frozenset[str]
    defaults: dict[str, Any]
    renamed: dict[str, str]  # data field -> column, where a field's name is an envelope's
    about_work_order: bool = True  # False: its subject is another aggregate's id


def columns_of(cls: type[Event]) -> EventColumns:
    """The export columns of event class ``cls`` (its current version)."""
    schema = cls.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    data_fields: list[pa.Field] = []
    json_fields: set[str] = set()
    defaults: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if name in SKIPPED_DATA:
            continue
        arrow, is_json = _arrow(prop, defs)
        if is_json:
            json_fields.add(name)
        data_fields.append(pa.field(name, arrow))
        if "default" in prop and prop["default"] is not None:
            defaults[name] = prop["default"]
    renamed = {f.name: f"data_{f.name}" for f in data_fields if f.name in ENVELOPE_NAMES}
    envelope = [pa.field(attr, kind) for _, attr, kind in ENVELOPE if attr]
    parse = pa.schema([*envelope, pa.field("data", pa.struct(data_fields))])
    table = pa.schema(
        [pa.field(name, kind) for name, _, kind in ENVELOPE]
        + [f.with_name(renamed.get(f.name, f.name)) for f in data_fields]
    )
    return EventColumns(
        type_name=cls.type_name(),
        table_name=f"{cls.context}.{cls.name}",
        parse_schema=parse,
        schema=table,
        json_fields=frozenset(json_fields),
        required=frozenset(schema.get("required", ())) - SKIPPED_DATA,
        defaults=defaults,
        renamed=renamed,
        about_work_order=cls.about_work_order,
    )


def catalogue_columns() -> dict[str, EventColumns]:
    """Export columns of every current event type, by CloudEvents ``type``."""
    return {name: columns_of(cls) for name, cls in CATALOGUE.items()}


def _arrow(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[pa.DataType, bool]:
    """The Arrow type of one JSON Schema, and whether it is kept as JSON text."""
    if "$ref" in prop:
        return _arrow(defs[prop["$ref"].rsplit("/", 1)[-1]], defs)
    branches = [b for b in prop.get("anyOf", ()) if b.get("type") != "null"]
    if "anyOf" in prop:
        return _arrow(branches[0], defs) if len(branches) == 1 else (pa.string(), True)
    kind = prop.get("type")
    if kind == "string":
        return (UTC_TIME if prop.get("format") == "date-time" else pa.string()), False
    simple = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
    if kind in simple:
        return simple[kind], False
    if kind == "array" and isinstance(prop.get("items"), dict):
        item, is_json = _arrow(prop["items"], defs)
        return (pa.string(), True) if is_json else (pa.list_(item), False)
    if kind == "object" and "properties" in prop and not prop.get("additionalProperties"):
        fields = []
        for name, sub in prop["properties"].items():
            arrow, is_json = _arrow(sub, defs)
            if is_json:
                return pa.string(), True
            fields.append(pa.field(name, arrow))
        return pa.struct(fields), False
    return pa.string(), True
