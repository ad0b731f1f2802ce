"""The AsyncAPI document: valid by the official AsyncAPI 3.0.0 JSON Schema (vendored in
tests/asyncapi/), the committed docs/asyncapi.json as generated from the catalogue, and every
catalogue event, every golden sample and real sealed events valid by it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import jsonschema
import pytest
from fieldcrew_shared.asyncapi import document, render
from fieldcrew_shared.envelope import Metadata, encode, seal
from fieldcrew_shared.events import CATALOGUE, UPCASTERS, ServerReportCompiled, next_version
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.unit.factories import issued, note, photo, report

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"
OFFICIAL = ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.schema.json"
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.json"))
DOC_URI = "urn:fieldcrew:asyncapi"


def test_the_document_is_valid_asyncapi_3() -> None:
    official = json.loads(OFFICIAL.read_text())
    jsonschema.Draft7Validator(official).validate(document())


def test_the_official_schema_refuses_a_broken_document() -> None:
    official = json.loads(OFFICIAL.read_text())
    broken = document()
    broken["operations"]["team.MemberNoteAdded.publish"]["action"] = "publish"  # AsyncAPI 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(official).validate(broken)


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is out of date: run `.venv/bin/fieldcrew asyncapi` (or make asyncapi)"
    )


def test_every_catalogue_event_has_its_channel_operation_and_message() -> None:
    doc = document()
    types = {m["x-cloudevents-type"] for m in doc["components"]["messages"].values()}
    assert types == set(CATALOGUE)
    for cls in CATALOGUE.values():
        channel = doc["channels"][f"{cls.context}.{cls.name}"]
        address = f"fieldcrew.{cls.context}.{{{cls.aggregate_parameter}}}.{cls.name}"
        assert channel["address"] == address and cls.aggregate_parameter in channel["parameters"]
        operation = doc["operations"][f"{cls.context}.{cls.name}.publish"]
        assert operation["action"] == "send" and operation["tags"] == [{"name": cls.context}]


def validator(message: str) -> jsonschema.Draft7Validator:
    """A validator of the payload of ``message``, references resolved in the document."""
    resource = Resource(contents=document(), specification=DRAFT7)
    registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
    schema = {"$ref": f"{DOC_URI}#/components/messages/{message}/payload"}
    return jsonschema.Draft7Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def message_of(type_name: str) -> str:
    return CATALOGUE[type_name].name


def as_current(sample: dict[str, Any]) -> dict[str, Any]:
    """An old version's sample as consumers read it: upcast to the current version."""
    while sample["type"] not in CATALOGUE:
        data = UPCASTERS[sample["type"]](dict(sample["data"]))
        sample = {**sample, "type": next_version(sample["type"]), "data": data}
        sample["schemaversion"] = int(sample["type"].rsplit(".v", 1)[1])
    return sample


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_golden_sample_is_valid_by_the_document(path: Path) -> None:
    sample = as_current(json.loads(path.read_text()))
    validator(message_of(sample["type"])).validate(sample)


def test_events_as_the_services_seal_them_are_valid() -> None:
    wo = uuid4()
    n = note(wo, "max", (("SEAL-40", 1),))
    events = [
        issued(wo), n, report(wo, "lena", (n.note_id,)), photo(wo, "max", "ab" * 32),
        ServerReportCompiled(work_order_id=wo, revision=2, report={"any": ["thing"]}),
    ]  # fmt: skip
    meta = Metadata(actor="max", actorrole="technician", correlationid="c", causationid="k")
    for event in events:
        sealed = json.loads(encode(seal(event, meta, source=f"fieldcrew/{event.context}")))
        validator(event.name).validate(sealed)


def test_the_document_refuses_what_consumers_refuse() -> None:
    sample = json.loads((ROOT / "tests/golden/fieldcrew.team.MemberNoteAdded.v2.json").read_text())
    check = validator("MemberNoteAdded")
    wrong_source = {**sample, "source": "fieldcrew/photos"}
    no_author = {**sample, "data": {k: v for k, v in sample["data"].items() if k != "author"}}
    bad_minutes = {**sample, "data": {**sample["data"], "labour_minutes": "lots"}}
    for bad in (wrong_source, no_author, bad_minutes, {**sample, "time": "yesterday"}):
        with pytest.raises(jsonschema.ValidationError):
            check.validate(bad)
