"""The export's quick way takes, for a whole batch at once, only events the careful way would
write alike: a compact envelope of a quick type on its own context's subjects. Pure."""

from __future__ import annotations

from uuid import uuid4

import orjson
from fieldcrew_cli.export.columns import catalogue_columns
from fieldcrew_cli.export.rows import Converter
from fieldcrew_cli.export.triage import triage
from fieldcrew_shared.events import ServerReportCompiled
from fieldcrew_shared.eventstore import RawEvent

from tests.unit.factories import issued, note, photo
from tests.unit.test_export_columns import raw

NOTE = "fieldcrew.team.MemberNoteAdded.v2"
QUICK = {NOTE: "team", "fieldcrew.dispatch.WorkOrderIssued.v2": "dispatch"}


def test_compact_events_of_quick_types_go_the_quick_way_by_type() -> None:
    wo = uuid4()
    raws = [raw(1, issued(wo)), raw(2, note(wo, "max")), raw(3, note(wo, "ida"))]
    raws.append(raw(4, photo(wo, "max", "ab" * 32)))  # a type not among the quick ones
    sorted_out = triage(raws, QUICK)
    quick = {name: at.to_pylist() for name, at in sorted_out.quick.items()}
    assert quick == {"fieldcrew.dispatch.WorkOrderIssued.v2": [0], NOTE: [1, 2]}
    assert sorted_out.careful == [3]


def test_anything_unlike_a_compact_envelope_of_its_subject_goes_the_careful_way() -> None:
    wo = uuid4()
    good = raw(1, note(wo, "max"))
    body = orjson.loads(good.body)
    data_first = {"data": body["data"], **{k: v for k, v in body.items() if k != "data"}}
    escaped = good.body.replace(b'"type":"fieldcrew.team', b'"type":"fieldcrew\\u002eteam')
    raws = [
        good,
        RawEvent(2, good.subject, orjson.dumps(data_first)),  # its type after its data
        RawEvent(3, good.subject, escaped),
        raw(4, note(wo, "eve"), source="fieldcrew/photos"),  # not team's source
        RawEvent(5, f"fieldcrew.photos.{wo}.MemberNoteAdded", good.body),  # not on team's
        RawEvent(6, good.subject, b"{not json"),
        RawEvent(7, "fieldcrew", good.body),
    ]
    sorted_out = triage(raws, QUICK)
    assert {n: at.to_pylist() for n, at in sorted_out.quick.items()} == {NOTE: [0]}
    assert sorted_out.careful == [1, 2, 3, 4, 5, 6]


def test_a_body_of_two_lines_found_on_the_quick_way_is_rejected_and_the_rest_kept() -> None:
    wo = uuid4()
    good, twice = raw(1, note(wo, "max")), raw(2, note(wo, "ida"))
    raws = [good, RawEvent(2, twice.subject, twice.body + b"\n" + twice.body), raw(3, issued(wo))]
    converted = Converter(catalogue_columns(), None).convert(raws)
    assert [r.seq for r in converted.rejected] == [2]
    assert converted.tables[NOTE].column("sequence").to_pylist() == [1]
    assert len(converted.tables["fieldcrew.dispatch.WorkOrderIssued.v2"]) == 1


def test_rows_of_a_type_come_in_sequence_order_however_each_was_taken() -> None:
    wo = uuid4()
    compiled = ServerReportCompiled(work_order_id=wo, revision=1, report={"x": 1})
    pretty = raw(2, note(wo, "ida"))
    raws = [
        raw(1, note(wo, "max")),
        RawEvent(
            2, pretty.subject, orjson.dumps(orjson.loads(pretty.body), option=orjson.OPT_INDENT_2)
        ),
        raw(3, note(wo, "eve")),
        raw(4, compiled),  # a free-form field: the careful way
    ]
    converted = Converter(catalogue_columns(), None).convert(raws)
    assert converted.tables[NOTE].column("sequence").to_pylist() == [1, 2, 3]
    assert len(converted.tables[compiled.type_name()]) == 1 and not converted.rejected
