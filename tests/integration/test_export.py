"""``fieldcrew events export``: the log as files that pyarrow, DuckDB and pandas read as they
are, compared with the log itself (read back and decoded as a projection would), incremental
runs, ranges by sequence and time, type filters, rejected events; and ``fieldcrew events``.
Against the session's real NATS."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest
from fieldcrew_cli.export import ExportError, ExportRequest, export
from fieldcrew_cli.servers import Infra
from fieldcrew_shared.envelope import Metadata
from fieldcrew_shared.errors import PoisonEventError
from fieldcrew_shared.events import (
    MemberNoteAdded,
    PhotoUploaded,
    ServerReportCompiled,
    subject_for,
)
from fieldcrew_shared.eventstore import SUBJECTS, EventStore, Recorded, connect

from tests.cli import fieldcrew
from tests.unit.factories import issued, note, photo, report

META = Metadata(actor="lena", actorrole="technician", correlationid="c-export", causationid="k")
NOTES = "team.MemberNoteAdded"


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[EventStore]:
    nc = await connect(infra.nats_url, name="test-export")
    yield EventStore(nc, source="fieldcrew/admin")
    await nc.drain()


def as_source(admin: EventStore, context: str) -> EventStore:
    return EventStore(admin.nc, source=f"fieldcrew/{context}")


async def play(admin: EventStore, wo: UUID) -> list[int]:
    """A work order's flow, every kind of event, appended as each service would."""
    n1, n2 = note(wo, "lena", (("SEAL-40", 1),), 45), note(wo, "max", (("BOLT-M8", 4),), 20)
    steps = [
        ("dispatch", issued(wo, leader="lena", members=("max",))),
        ("team", n1),
        ("team", n2),
        ("team", report(wo, "lena", (n1.note_id, n2.note_id))),
        ("photos", photo(wo, "lena", "ab" * 32, role="leader")),
        ("photos", photo(wo, "max", "cd" * 32)),
        ("aggregator", ServerReportCompiled(work_order_id=wo, revision=1, report={"x": [1]})),
    ]
    return [(await as_source(admin, ctx).append(e, META)).seq for ctx, e in steps]


async def log_records(admin: EventStore, first: int, last: int) -> tuple[list[Recorded], int]:
    """The log from ``first`` to ``last`` decoded as a projection decodes it; how many it
    refuses."""
    records, refused, start = [], 0, first
    while start <= last and (batch := await admin.read(SUBJECTS, start, 1024)):
        for raw in batch:
            if raw.seq > last:
                break
            try:
                records.append(raw.decoded())
            except PoisonEventError:
                refused += 1
        start = batch[-1].seq + 1
    return records, refused


def folder_of(record: Recorded) -> str:
    return f"{record.event.context}.{record.event.name}"


def expected_row(record: Recorded) -> dict[str, Any]:
    """What the export's row of ``record`` must hold."""
    e = record.envelope
    data = record.event.model_dump(mode="python", exclude={"work_order_id"})
    if isinstance(record.event, ServerReportCompiled):
        data["report"] = json.dumps(record.event.report, separators=(",", ":"))
    return {
        "sequence": record.seq, "id": e.id, "type": e.type, "source": e.source,
        "work_order_id": e.subject, "occurred_at": e.time, "recorded_at": e.recordedat,
        "actor": e.actor, "actor_role": e.actorrole, "correlation_id": e.correlationid,
        "causation_id": e.causationid, **data,
    }  # fmt: skip


def normalised(value: Any) -> Any:
    """Tuples and lists alike, ids and enums as text, models as dicts, all the way down."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [normalised(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return value.value if hasattr(value, "value") else value


def parquet_rows(out: Path, folder: str) -> list[dict[str, Any]]:
    table = ds.dataset(out / folder, format="parquet").to_table()
    return sorted(table.to_pylist(), key=lambda r: r["sequence"])


async def test_a_parquet_export_holds_every_event_of_the_log_with_its_values(
    admin: EventStore, tmp_path: Path
) -> None:
    wo = uuid4()
    seqs = await play(admin, wo)
    result = await export(admin, ExportRequest(out=tmp_path), progress=None)
    assert result.first_sequence == 1 and result.last_sequence >= seqs[-1]

    records, refused = await log_records(admin, 1, result.last_sequence)
    by_folder = Counter(folder_of(r) for r in records)
    assert result.events == len(records) and result.rejected == refused
    for folder, count in by_folder.items():  # pyarrow, DuckDB and pandas count alike
        assert len(parquet_rows(tmp_path, folder)) == count
        glob = str(tmp_path / folder / "*.parquet")
        assert duckdb.sql(f"SELECT count(*) FROM '{glob}'").fetchall() == [(count,)]
        assert len(pd.read_parquet(tmp_path / folder)) == count

    mine = [r for r in records if r.seq in seqs]
    for record in mine:
        rows = [r for r in parquet_rows(tmp_path, folder_of(record)) if r["sequence"] == record.seq]
        assert len(rows) == 1
        assert normalised(rows[0]) == normalised(expected_row(record))


async def test_duckdb_reads_typed_columns_nested_ones_included(
    admin: EventStore, tmp_path: Path
) -> None:
    wo = uuid4()
    seqs = await play(admin, wo)
    await export(admin, ExportRequest(out=tmp_path), progress=None)
    notes = str(tmp_path / NOTES / "*.parquet")
    parts = duckdb.sql(
        f"SELECT p.part_no, sum(p.qty) FROM (SELECT unnest(parts) AS p FROM '{notes}'"
        f" WHERE work_order_id = '{wo}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert parts == [("BOLT-M8", 4), ("SEAL-40", 1)]
    issued_glob = str(tmp_path / "dispatch.WorkOrderIssued" / "*.parquet")
    crew = duckdb.sql(
        f"SELECT crew.leader, crew.members, typeof(recorded_at), typeof(min_photos_per_member)"
        f" FROM '{issued_glob}' WHERE work_order_id = '{wo}'"
    ).fetchall()
    assert crew == [("lena", ["max"], "TIMESTAMP WITH TIME ZONE", "BIGINT")]
    # the one this test appended: an aggregator running in the session (an e2e stack) may
    # have compiled its own report of these events into the same log
    compiled = str(tmp_path / "aggregator.ServerReportCompiled" / "*.parquet")
    report = duckdb.sql(
        f"SELECT json_extract(report, '$.x[0]')::int FROM '{compiled}'"
        f" WHERE work_order_id = '{wo}' AND sequence = {seqs[-1]}"
    ).fetchall()
    assert report == [(1,)]


async def test_the_next_export_starts_after_the_manifest_and_adds_only_new_events(
    admin: EventStore, tmp_path: Path
) -> None:
    first = await export(admin, ExportRequest(out=tmp_path), progress=None)
    wo = uuid4()
    seqs = await play(admin, wo)
    second = await export(admin, ExportRequest(out=tmp_path), progress=None)
    assert second.first_sequence == first.last_sequence + 1
    assert second.last_sequence >= seqs[-1]
    assert (tmp_path / NOTES / f"part-{second.first_sequence:012d}.parquet") in second.files

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["last_sequence"] == second.last_sequence
    assert [r["first_sequence"] for r in manifest["runs"]] == [1, second.first_sequence]
    sequences = [r["sequence"] for r in parquet_rows(tmp_path, NOTES)]
    assert len(sequences) == len(set(sequences))  # every note once over both runs
    records, _ = await log_records(admin, 1, second.last_sequence)
    assert sorted(sequences) == [r.seq for r in records if folder_of(r) == NOTES]

    third = await export(admin, ExportRequest(out=tmp_path), progress=None)
    assert third.first_sequence == second.last_sequence + 1  # the log may have grown since


async def test_a_range_by_sequence_and_time_and_a_type_filter(
    admin: EventStore, tmp_path: Path
) -> None:
    wo = uuid4()
    seqs = await play(admin, wo)
    records, _ = await log_records(admin, seqs[0], seqs[-1])
    until = next(r for r in records if r.seq == seqs[2]).envelope.recordedat
    request = ExportRequest(
        out=tmp_path,
        from_seq=seqs[0],
        until=until,
        types=("fieldcrew.team.MemberNoteAdded.v1", "fieldcrew.dispatch.WorkOrderIssued.v1"),
    )
    result = await export(admin, request, progress=None)
    assert result.last_sequence == seqs[2]  # the report was recorded after the last note
    assert [r["sequence"] for r in parquet_rows(tmp_path, NOTES)] == seqs[1:3]
    assert [r["sequence"] for r in parquet_rows(tmp_path, "dispatch.WorkOrderIssued")] == seqs[:1]
    assert not (tmp_path / "team.LeaderReportSubmitted").exists()

    since = await export(
        admin,
        ExportRequest(
            out=tmp_path / "since", since=until, types=("fieldcrew.team.MemberNoteAdded.v1",)
        ),
        progress=None,
    )
    assert since.first_sequence == seqs[2]  # the first recorded at or after it: itself


async def test_jsonl_and_csv_exports_hold_the_same_rows(admin: EventStore, tmp_path: Path) -> None:
    wo = uuid4()
    seqs = await play(admin, wo)
    for file_format in ("jsonl", "csv"):
        out = tmp_path / file_format
        await export(
            admin, ExportRequest(out=out, file_format=file_format, from_seq=seqs[0]), progress=None
        )
    [jsonl] = (tmp_path / "jsonl" / NOTES).glob("*.jsonl")
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    mine = [line for line in lines if line["work_order_id"] == str(wo)]
    assert [m["labour_minutes"] for m in mine] == [45, 20]
    assert mine[0]["parts"] == [{"part_no": "SEAL-40", "qty": 1}]
    assert mine[0]["recorded_at"].endswith("Z")
    [csv_file] = (tmp_path / "csv" / NOTES).glob("*.csv")
    with csv_file.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["work_order_id"] == str(wo)]
    assert [json.loads(r["parts"]) for r in rows] == [m["parts"] for m in mine]
    assert duckdb.sql(f"SELECT count(*) FROM read_csv('{csv_file}')").fetchall() == [(len(lines),)]


async def test_events_the_services_would_refuse_are_rejected_with_the_reason(
    admin: EventStore, tmp_path: Path
) -> None:
    wo = uuid4()
    good = await as_source(admin, "team").append(note(wo, "max"), META)
    garbage = await admin.js.publish(subject_for("team", wo, "MemberNoteAdded"), b"{not json")
    misplaced = await as_source(admin, "dispatch").append(
        PhotoUploaded.model_validate(photo(wo, "max", "ef" * 32).model_dump()), META
    )
    result = await export(admin, ExportRequest(out=tmp_path, from_seq=good.seq), progress=None)
    rejected = {}
    for line in (tmp_path / "rejected.jsonl").read_text().splitlines():
        entry = json.loads(line)
        rejected[entry["sequence"]] = entry["reason"]
    assert garbage.seq in rejected and "not a fieldcrew CloudEvent" in rejected[garbage.seq]
    assert misplaced.seq in rejected and "does not match subject" in rejected[misplaced.seq]
    assert good.seq not in rejected and result.rejected >= 2
    assert good.seq in [r["sequence"] for r in parquet_rows(tmp_path, NOTES)]


async def test_an_export_that_would_not_fit_the_folder_is_refused(
    admin: EventStore, tmp_path: Path
) -> None:
    done = await export(admin, ExportRequest(out=tmp_path), progress=None)
    with pytest.raises(ExportError, match="parquet export"):
        await export(admin, ExportRequest(out=tmp_path, file_format="csv"), progress=None)
    with pytest.raises(ExportError, match="already holds sequences"):
        await export(admin, ExportRequest(out=tmp_path, from_seq=done.last_sequence), progress=None)
    with pytest.raises(ExportError, match="same --type"):
        await export(
            admin,
            ExportRequest(out=tmp_path, types=("fieldcrew.team.MemberNoteAdded.v1",)),
            progress=None,
        )
    with pytest.raises(ExportError, match="unknown event type"):
        await export(
            admin,
            ExportRequest(out=tmp_path / "x", types=("fieldcrew.team.Nope.v1",)),
            progress=None,
        )


async def test_the_events_command_prints_a_work_orders_history_as_json_lines(
    infra: Infra, admin: EventStore, tmp_path: Path
) -> None:
    wo = uuid4()
    seqs = await play(admin, wo)
    done = await fieldcrew(infra.nats_url, tmp_path, "events", "--work-order", str(wo))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert written(lines) == seqs
    assert {line["subject"] for line in lines} == {str(wo)}
    assert lines[1]["type"] == MemberNoteAdded.type_name()
    assert lines[1]["data"]["labour_minutes"] == 45

    photos = f"fieldcrew.photos.{wo}.>"
    only = await fieldcrew(
        infra.nats_url, tmp_path, "events", "--filter", photos, "--start", str(seqs[0])
    )
    assert written([json.loads(line) for line in only.stdout.splitlines()]) == seqs[4:6]


def written(lines: list[dict[str, Any]]) -> list[int]:
    """The sequences of the printed events but the rendition worker's: a photos service on
    this session's servers records the copies of the photos ``play`` uploaded on its own time
    (``PhotoRenditionsMade``, or ``PhotoRenditionFailed`` for bytes never stored)."""
    return [line["seq"] for line in lines
            if not line["type"].startswith("fieldcrew.photos.PhotoRendition")]  # fmt: skip


async def test_the_export_command_shows_progress_and_refuses_clearly(
    infra: Infra, admin: EventStore, tmp_path: Path
) -> None:
    seqs = await play(admin, uuid4())
    out = tmp_path / "out"
    start = str(seqs[0])
    done = await fieldcrew(
        infra.nats_url, tmp_path, "events", "export", "--format", "parquet", "--out", str(out),
        "--from-seq", start,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exported sequences" in done.stdout and "sequences" in done.stderr  # the bar
    again = await fieldcrew(
        infra.nats_url, tmp_path, "events", "export", "--format", "csv", "--out", str(out)
    )
    assert again.returncode == 2 and "holds a parquet export" in again.stderr
    bad = await fieldcrew(
        infra.nats_url, tmp_path, "events", "export", "--out", str(out), "--since", "yesterday"
    )
    assert bad.returncode == 2 and "RFC 3339" in bad.stderr
