"""The export's columns come from the catalogue, and stored bytes become typed rows: the quick
way and the careful way agree, old versions are upcast, what a projection would refuse is
rejected with the reason. Pure: no servers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

import orjson
import pyarrow as pa
import pytest
from fieldcrew_cli.export.columns import UTC_TIME, catalogue_columns, columns_of
from fieldcrew_cli.export.rows import Converter
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.events import CATALOGUE, UPCASTERS, Crew, Event, GeoPoint, PartLine
from fieldcrew_shared.eventstore import RawEvent

from tests.unit.factories import issued, note, photo

META = Metadata(actor="max", actorrole="technician", correlationid="c-1")


class EverythingHappened(Event):
    """An event with a field of every kind the catalogue uses."""

    context: ClassVar[str] = "team"
    name: ClassVar[str] = "EverythingHappened"

    id: str
    when: datetime
    maybe_when: datetime | None = None
    count: int = 3
    ratio: float
    flag: bool = False
    crew: Crew
    parts: tuple[PartLine, ...] = ()
    where: GeoPoint | None = None
    ids: tuple[UUID, ...] = ()
    free: dict[str, Any] = {}


def test_each_kind_of_field_has_its_arrow_type() -> None:
    columns = columns_of(EverythingHappened)
    schema = columns.schema
    assert schema.names[:11] == [
        "sequence", "id", "type", "source", "work_order_id", "occurred_at", "recorded_at",
        "actor", "actor_role", "correlation_id", "causation_id",
    ]  # fmt: skip
    assert schema.field("data_id").type == pa.string()  # named like an envelope column
    assert schema.field("when").type == UTC_TIME
    assert schema.field("maybe_when").type == UTC_TIME
    assert schema.field("count").type == pa.int64()
    assert schema.field("ratio").type == pa.float64()
    assert schema.field("flag").type == pa.bool_()
    crew = pa.struct([("leader", pa.string()), ("members", pa.list_(pa.string()))])
    assert schema.field("crew").type == crew
    parts = pa.list_(pa.struct([("part_no", pa.string()), ("qty", pa.int64())]))
    assert schema.field("parts").type == parts
    assert schema.field("where").type == pa.struct([("lat", pa.float64()), ("lon", pa.float64())])
    assert schema.field("ids").type == pa.list_(pa.string())
    assert schema.field("free").type == pa.string() and columns.json_fields == {"free"}
    assert columns.defaults == {"count": 3, "flag": False, "parts": [], "ids": [], "free": {}}


def test_every_catalogue_event_has_columns() -> None:
    columns = catalogue_columns()
    assert set(columns) == set(CATALOGUE)
    assert len({c.table_name for c in columns.values()}) == len(columns)


def raw(seq: int, event: Event, source: str | None = None) -> RawEvent:
    envelope = seal(event, META, source=source or f"fieldcrew/{event.context}")
    return RawEvent(seq, event.subject, encode(envelope))


def test_quick_and_careful_ways_give_the_same_rows() -> None:
    wo = uuid4()
    events = [issued(wo), note(wo, "max", (("SEAL-40", 2),)), photo(wo, "max", "ab" * 32)]
    raws = [raw(i + 1, e) for i, e in enumerate(events)]
    converter = Converter(catalogue_columns(), None)
    quick = converter.convert(raws)
    # the same events written pretty (a line break in the body): the careful way only
    pretty = [RawEvent(r.seq, r.subject, _indented(r.body)) for r in raws]
    careful = converter.convert(pretty)
    assert quick.tables.keys() == careful.tables.keys() == {e.type_name() for e in events}
    for name, table in quick.tables.items():
        assert table.to_pylist() == careful.tables[name].to_pylist()
    [row] = quick.tables["fieldcrew.team.MemberNoteAdded.v2"].to_pylist()
    assert row["parts"] == [{"part_no": "SEAL-40", "qty": 2}] and row["work_order_id"] == str(wo)


def _indented(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)


def test_a_field_missing_from_an_old_event_gets_its_default() -> None:
    wo = uuid4()
    body = orjson.loads(raw(1, note(wo, "max")).body)
    del body["data"]["labour_minutes"], body["data"]["parts"]
    converted = Converter(catalogue_columns(), None).convert(
        [RawEvent(1, f"fieldcrew.team.{wo}.MemberNoteAdded", orjson.dumps(body))]
    )
    [row] = converted.tables["fieldcrew.team.MemberNoteAdded.v2"].to_pylist()
    assert row["labour_minutes"] == 0 and row["parts"] == []


def test_an_old_version_is_upcast_and_kept_with_its_own_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "labour_minutes": data.pop("minutes")}

    monkeypatch.setitem(UPCASTERS, "fieldcrew.team.MemberNoteAdded.v0", v0_to_v1)
    wo = uuid4()
    body = orjson.loads(raw(7, note(wo, "max", minutes=5)).body)
    body["type"], body["schemaversion"] = "fieldcrew.team.MemberNoteAdded.v0", 0
    body["data"]["minutes"] = body["data"].pop("labour_minutes") + 40
    converted = Converter(catalogue_columns(), None).convert(
        [RawEvent(7, f"fieldcrew.team.{wo}.MemberNoteAdded", orjson.dumps(body))]
    )
    [row] = converted.tables["fieldcrew.team.MemberNoteAdded.v2"].to_pylist()
    assert row["type"] == "fieldcrew.team.MemberNoteAdded.v0" and row["labour_minutes"] == 45


def test_what_a_projection_refuses_is_rejected_and_the_rest_kept() -> None:
    wo = uuid4()
    good = raw(1, note(wo, "max"))
    wrong_type = orjson.loads(good.body)
    wrong_type["data"]["labour_minutes"] = "lots"
    raws = [
        good,
        RawEvent(2, good.subject, b"{not json"),
        raw(3, note(wo, "eve"), source="fieldcrew/photos"),  # on team's subjects
        RawEvent(4, good.subject, orjson.dumps(wrong_type)),
    ]
    converted = Converter(catalogue_columns(), None).convert(raws)
    reasons = {r.seq: r.reason for r in converted.rejected}
    assert set(reasons) == {2, 3, 4}
    assert "not a fieldcrew CloudEvent" in reasons[2]
    assert "does not match subject" in reasons[3]
    assert "payload invalid" in reasons[4]
    [row] = converted.tables["fieldcrew.team.MemberNoteAdded.v2"].to_pylist()
    assert row["sequence"] == 1


def test_the_type_filter_keeps_only_the_types_asked_for() -> None:
    wo = uuid4()
    raws = [raw(1, issued(wo)), raw(2, note(wo, "max")), raw(3, note(wo, "ida"))]
    converted = Converter(catalogue_columns(), frozenset({"fieldcrew.team.MemberNoteAdded.v2"}))
    out = converted.convert(raws)
    assert list(out.tables) == ["fieldcrew.team.MemberNoteAdded.v2"] and out.filtered == 1
    assert out.tables["fieldcrew.team.MemberNoteAdded.v2"].column("sequence").to_pylist() == [2, 3]
