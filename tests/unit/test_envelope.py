"""The envelope is CloudEvents 1.0 structured JSON, and every published schema keeps loading."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from cloudevents.v1.http import from_json
from fieldcrew_shared.envelope import (
    Envelope,
    Metadata,
    decode,
    decode_event,
    encode,
    payload,
    seal,
)
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import (
    CATALOGUE,
    PUBLISHED,
    REPORT_PART_CHARS,
    UPCASTERS,
    Asset,
    Event,
    GeoPoint,
    LeaderReportSubmitted,
    MemberNoteAdded,
    ServerReportCompiled,
    Site,
    WorkOrderIssued,
    WorkOrderIssuedV1,
    join_report,
    split_report,
)

from tests.unit.factories import issued, note, photo

GOLDEN_DIR = Path(__file__).parent.parent / "golden"
GOLDEN = sorted(GOLDEN_DIR.glob("*.json"))
META = Metadata(actor="max", actorrole="technician", correlationid="corr-1", causationid="k-1")


def two_steps(raw: bytes) -> tuple[Envelope, Event]:
    envelope = decode(raw)
    return envelope, payload(envelope)


# Both ways from bytes to an event: decode_event (one pass for current types) must agree with
# decode + payload on everything, upcasts and poison included.
DECODERS = pytest.mark.parametrize("decoder", [two_steps, decode_event])
Decoder = Callable[[bytes], tuple[Envelope, Event]]


@DECODERS
@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden_samples_of_every_version_load(path: Path, decoder: Decoder) -> None:
    """Each loads as the current version of its event (an old version through its upcasters)."""
    envelope, event = decoder(path.read_bytes())
    stem = envelope.type.rpartition(".v")[0]
    assert event.type_name() == next(t for t in CATALOGUE if t.startswith(f"{stem}.v"))
    assert str(event.aggregate_id) == envelope.subject


@DECODERS
def test_a_v1_server_report_announcement_is_read_as_v2_with_its_summary(
    decoder: Decoder,
) -> None:
    report = {
        "compiled_at": "2026-11-02T10:19:00+00:00",
        "contributions": [{"notes": [{}, {}]}, {"notes": [{}]}, {"notes": []}],
        "photos": [{}, {}],
        "missing": [{"kind": "notes_not_merged"}],
    }
    doc = json.loads((GOLDEN_DIR / "fieldcrew.aggregator.ServerReportCompiled.v1.json").read_text())
    doc["data"] = {**doc["data"], "revision": 3, "report": report}
    _, event = decoder(json.dumps(doc).encode())
    assert event == ServerReportCompiled(
        work_order_id=UUID(doc["subject"]),
        revision=3,
        compiled_at=datetime(2026, 11, 2, 10, 19, tzinfo=UTC),
        notes=3,
        photos=2,
        missing=1,
        report=report,
    )


def test_a_report_split_into_parts_is_joined_back_whole() -> None:
    rng = random.Random(7)
    report = {"notes": ["".join(rng.choices('aé€中"\\ 1', k=5000)) for _ in range(300)]}
    raw = json.dumps(report).encode()
    chunks = split_report(raw)
    assert len(chunks) > 1 and all(len(c) <= REPORT_PART_CHARS for c in chunks)
    assert all(c.isascii() for c in chunks)  # a JSON string holds it as it is
    assert join_report(chunks) == report


def test_there_is_a_golden_sample_for_every_event_type() -> None:
    assert {p.stem for p in GOLDEN} >= set(CATALOGUE) | set(UPCASTERS)
    assert {p.stem for p in GOLDEN} >= {e.type_name() for e in PUBLISHED}


@DECODERS
def test_a_v1_work_order_is_read_as_v2_its_texts_as_the_site_name_and_asset_id(
    decoder: Decoder,
) -> None:
    golden = Path(__file__).parent.parent / "golden"
    _, old = decoder((golden / "fieldcrew.dispatch.WorkOrderIssued.v1.json").read_bytes())
    assert isinstance(old, WorkOrderIssued)
    assert old.site == Site(name="Plant 2") and old.asset == Asset(id="P-104")
    assert old.customer is None and old.crew.leader == "lena"
    _, new = decoder((golden / "fieldcrew.dispatch.WorkOrderIssued.v2.json").read_bytes())
    assert isinstance(new, WorkOrderIssued)
    assert new.site is not None and new.site.address and new.site.lat is not None
    assert new.customer is not None and new.customer.phone


@DECODERS
def test_fields_added_with_defaults_load_from_old_and_new_samples(decoder: Decoder) -> None:
    """A note's ``after_report`` and a report's ``report_version`` and ``lines`` were added with
    defaults: samples from before read as a timely note and a first report of one line per
    note."""
    golden = Path(__file__).parent.parent / "golden"

    def load(name: str) -> Event:
        return decoder((golden / f"{name}.json").read_bytes())[1]

    old_note, late_note = (
        load("fieldcrew.team.MemberNoteAdded.v1"),
        load("fieldcrew.team.MemberNoteAdded.v1.after-report"),
    )
    assert isinstance(old_note, MemberNoteAdded) and isinstance(late_note, MemberNoteAdded)
    assert (old_note.after_report, late_note.after_report) == (False, True)
    old, second = (
        load("fieldcrew.team.LeaderReportSubmitted.v1"),
        load("fieldcrew.team.LeaderReportSubmitted.v1.version-2"),
    )
    assert isinstance(old, LeaderReportSubmitted) and isinstance(second, LeaderReportSubmitted)
    assert (old.report_version, old.lines) == (1, ())
    assert second.report_version == 2
    assert [len(line.note_ids) for line in second.lines] == [2, 1]


def test_a_v1_work_order_without_site_or_asset_has_none() -> None:
    v1 = {"work_order_id": str(uuid4()), "title": "t", "crew": {"leader": "l"}, "issued_by": "d"}
    upcast = WorkOrderIssued.model_validate(UPCASTERS[WorkOrderIssuedV1.type_name()](v1))
    assert (upcast.site, upcast.asset, upcast.customer) == (None, None, None)


def test_the_official_cloudevents_sdk_reads_our_envelope() -> None:
    event = note(uuid4(), "max", parts=(("P-1", 2),))
    raw = encode(seal(event, META, source="fieldcrew/team"))
    ce = from_json(raw)
    assert ce["specversion"] == "1.0"
    assert ce["type"] == "fieldcrew.team.MemberNoteAdded.v2" and ce["readablefrom"] == 1
    assert ce["subject"] == str(event.work_order_id)
    assert ce["correlationid"] == "corr-1" and ce["causationid"] == "k-1"
    assert ce["actor"] == "max" and ce["actorrole"] == "technician"
    assert ce.data["parts"] == [{"part_no": "P-1", "qty": 2}]


def _golden_envelopes() -> list[Envelope]:
    return [decode(path.read_bytes()) for path in GOLDEN]


def _sealed_envelopes() -> list[Envelope]:
    wo = uuid4()
    kyiv = timezone(timedelta(hours=2))
    metas = [
        META,  # a causation id, the time it happened left to the server
        Metadata(actor="a", actorrole="r", correlationid="c"),  # no causation id: left out
        Metadata(actor="a", actorrole="r", correlationid="c", occurred_at=datetime(2026, 11, 2)),
        Metadata(actor="ü", actorrole="r", correlationid="c\n\"", occurred_at=datetime(
            2026, 11, 2, 10, 20, 0, 1, tzinfo=kyiv)),
    ]  # fmt: skip
    events: list[Event] = [
        issued(wo).model_copy(update={"due_at": datetime(2026, 12, 1, tzinfo=UTC)}),
        note(wo, "max", parts=(("P-1", 2),)),
        photo(wo, "m1", sha="a" * 64),  # None fields inside data stay, as null
        photo(wo, "m1", sha="b" * 64).model_copy(update={"location": GeoPoint(lat=48.1, lon=-0.1)}),
        ServerReportCompiled(work_order_id=wo, revision=2, compiled_at=datetime(2026, 11, 2)),
    ]
    return [seal(e, m, source=f"fieldcrew/{e.context}") for e in events for m in metas]


@pytest.mark.parametrize("envelope", [*_golden_envelopes(), *_sealed_envelopes()])
def test_encode_writes_what_pydantic_writes(envelope: Envelope) -> None:
    """encode() writes with orjson; its bytes must stay pydantic's, extensions included."""
    assert encode(envelope) == envelope.model_dump_json(exclude_none=True).encode()


@DECODERS
def test_round_trip_keeps_the_event(decoder: Decoder) -> None:
    event = note(uuid4(), "max", parts=(("P-1", 2),))
    sealed = seal(event, META, source="fieldcrew/team")
    envelope, decoded = decoder(encode(sealed))
    assert decoded == event
    assert envelope.model_dump(exclude={"data"}) == sealed.model_dump(exclude={"data"})
    assert payload(envelope) == event
    if decoder is decode_event:  # a current type takes the one pass: no dict in between
        assert envelope.data is decoded  # type: ignore[comparison-overlap]


@DECODERS
def test_unknown_fields_are_ignored_for_rolling_deploys(decoder: Decoder) -> None:
    event = note(uuid4(), "max")
    doc = json.loads(encode(seal(event, META, source="fieldcrew/team")))
    doc["data"]["added_in_a_later_build"] = 1
    doc["anextension"] = "kept"
    envelope, decoded = decoder(json.dumps(doc).encode())
    assert decoded == event
    assert envelope.model_extra == {"anextension": "kept"}


@DECODERS
def test_an_old_version_is_upcast(monkeypatch: pytest.MonkeyPatch, decoder: Decoder) -> None:
    """A v0 payload (``notes`` instead of ``findings``) is upcast to the current model."""
    old_type = "fieldcrew.team.MemberNoteAdded.v0"
    monkeypatch.setitem(
        UPCASTERS,
        old_type,
        lambda d: {**{k: v for k, v in d.items() if k != "notes"}, "findings": d["notes"]},
    )
    event = note(uuid4(), "max")
    doc = json.loads(encode(seal(event, META, source="fieldcrew/team")))
    doc["type"], doc["schemaversion"] = old_type, 0
    doc["data"]["notes"] = doc["data"].pop("findings")
    _, upcast = decoder(json.dumps(doc).encode())
    assert isinstance(upcast, MemberNoteAdded) and upcast.findings == event.findings


@DECODERS
@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"specversion": "1.0"}'])
def test_garbage_is_poison(raw: bytes, decoder: Decoder) -> None:
    with pytest.raises(PoisonEventError, match="not a fieldcrew CloudEvent"):
        decoder(raw)


@DECODERS
def test_unknown_type_is_poison(decoder: Decoder) -> None:
    doc = json.loads(encode(seal(note(uuid4(), "m"), META, source="fieldcrew/team")))
    doc["type"] = "fieldcrew.team.Nope.v1"
    with pytest.raises(PoisonEventError, match="unknown event type"):
        decoder(json.dumps(doc).encode())


@DECODERS
def test_an_invalid_payload_is_poison(decoder: Decoder) -> None:
    doc = json.loads(encode(seal(note(uuid4(), "m"), META, source="fieldcrew/team")))
    doc["data"]["labour_minutes"] = "a while"
    with pytest.raises(PoisonEventError, match=r"MemberNoteAdded\.v2 payload invalid"):
        decoder(json.dumps(doc).encode())
