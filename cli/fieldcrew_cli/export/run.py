"""One export run: which sequences, read in order, converted and written, manifest updated.

The range: from ``--from-seq``, from the first event stored at ``--since``, or else from after
the manifest's last sequence (1 for a new folder); up to ``--until``, or else the end of the
log as it was when the run began. A time cuts the log where it stood then: ``--since T``
starts at the first event recorded (``recorded_at``) at or after T, ``--until T`` ends before
the first one recorded after T. So a range is always a whole stretch of the log, and an export
``--until T`` followed by one ``--since T`` (one microsecond on) holds every event once.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
from fieldcrew_shared.events import CATALOGUE, UPCASTERS, next_version
from fieldcrew_shared.eventstore import EventStore, RawEvent
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fieldcrew_cli.export.columns import EventColumns, catalogue_columns
from fieldcrew_cli.export.files import (
    ExportError,
    OutputFiles,
    append_rejected,
    read_manifest,
    write_manifest,
)
from fieldcrew_cli.export.reading import read_range
from fieldcrew_cli.export.rows import Converter

ROW_GROUP = 65_536  # rows of one type gathered before they are written


@dataclass(frozen=True)
class ExportRequest:
    """What ``fieldcrew events export`` was asked."""

    out: Path
    file_format: str = "parquet"
    from_seq: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()


@dataclass
class ExportResult:
    first_sequence: int
    last_sequence: int
    events: int = 0  # rows written
    rejected: int = 0
    filtered: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        if self.last_sequence < self.first_sequence:
            return f"nothing new to export (the log ends at {self.last_sequence})"
        return (
            f"exported sequences {self.first_sequence}-{self.last_sequence}: {self.events} events"
            f" in {len(self.files)} files, {self.rejected} rejected, {self.filtered} of other types"
        )


def wanted_types(types: tuple[str, ...]) -> frozenset[str] | None:
    """The current type names asked for (an old version names its current one); None for all.
    ExportError naming the known types for a type that does not exist."""
    if not types:
        return None
    out = set()
    for name in types:
        current = name
        while current not in CATALOGUE and current in UPCASTERS:
            current = next_version(current)
        if current not in CATALOGUE:
            known = ", ".join(sorted(CATALOGUE))
            raise ExportError(f"unknown event type {name!r}; the types are: {known}")
        out.add(current)
    return frozenset(out)


async def export(
    store: EventStore, request: ExportRequest, *, progress: TextIO | None = sys.stderr
) -> ExportResult:
    """Export the requested range into ``request.out``; see the module's docstring."""
    types = wanted_types(request.types)
    request.out.mkdir(parents=True, exist_ok=True)
    manifest = _check_manifest(read_manifest(request.out), request, types)
    first, last = await _range(store, request, manifest)
    result = ExportResult(first, last)
    if last < first:
        return result
    files = OutputFiles(request.out, request.file_format, first)
    columns = catalogue_columns()
    try:
        await _copy(store, Converter(columns, types), files, result, progress)
        files.cover({c.table_name: c.schema for c in columns.values() if _wanted(c, types)})
        result.files = files.finish()
    except BaseException:
        files.abandon()
        raise
    write_manifest(request.out, manifest, _run_record(request, result))
    return result


def _wanted(columns: EventColumns, types: frozenset[str] | None) -> bool:
    return types is None or columns.type_name in types


def _check_manifest(
    manifest: dict[str, Any] | None, request: ExportRequest, types: frozenset[str] | None
) -> dict[str, Any]:
    """The folder's manifest, or a new one; ExportError when this run would not fit it."""
    listed = sorted(types) if types is not None else None
    if manifest is None:
        return {"format": request.file_format, "types": listed, "last_sequence": 0, "runs": []}
    if manifest.get("format") != request.file_format:
        raise ExportError(
            f"{request.out} holds a {manifest.get('format')} export; use another --out for"
            f" {request.file_format}"
        )
    if manifest.get("types") != listed:
        raise ExportError(
            f"{request.out} holds an export of types {manifest.get('types') or 'all'}; an"
            " incremental export must ask for the same --type (or use another --out)"
        )
    return manifest


async def _range(
    store: EventStore, request: ExportRequest, manifest: dict[str, Any]
) -> tuple[int, int]:
    done = int(manifest.get("last_sequence", 0))
    end = await store.last_sequence()
    if request.until is not None:
        end = min(end, await store.last_recorded_by(request.until))
    if request.from_seq is not None:
        first = request.from_seq
    elif request.since is not None:
        found = await store.first_recorded_at(request.since)
        first = found if found is not None else end + 1
    else:
        return done + 1, end
    if first <= done:
        raise ExportError(
            f"{request.out} already holds sequences up to {done}; start after it, or leave"
            " out --from-seq/--since to go on from there"
        )
    return first, end


async def _copy(
    store: EventStore,
    converter: Converter,
    files: OutputFiles,
    result: ExportResult,
    progress: TextIO | None,
) -> None:
    """Read the range in order, convert, and write row groups of up to ``ROW_GROUP`` rows per
    type. A batch is converted and written in a worker thread while the event loop goes on
    reading the next ones: Arrow's parsing and Parquet's compression let go of the GIL."""
    pending: dict[str, list[pa.Table]] = {}
    total = result.last_sequence - result.first_sequence + 1
    with _bar(progress) as bar:
        task = bar.add_task("", total=total)
        async for batch in read_range(store, result.first_sequence, result.last_sequence):
            await _in_thread(_take, converter, files, pending, result, batch)
            bar.advance(task, batch[-1].seq - batch[0].seq + 1)
        for type_name, tables in pending.items():
            result.events += _flush(files, converter.columns[type_name], tables)


async def _in_thread(fn: Callable[..., None], *args: Any) -> None:
    """``fn(*args)`` in a worker thread. Cancelled, it still waits for the thread to finish,
    so that the files are not closed under a write (``OutputFiles.abandon``)."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait({work})
        raise


def _take(
    converter: Converter,
    files: OutputFiles,
    pending: dict[str, list[pa.Table]],
    result: ExportResult,
    batch: list[RawEvent],
) -> None:
    """Convert one batch, note what was rejected, write the types that have a row group."""
    converted = converter.convert(batch)
    append_rejected(files.out, converted.rejected)
    result.rejected += len(converted.rejected)
    result.filtered += converted.filtered
    for type_name, table in converted.tables.items():
        pending.setdefault(type_name, []).append(table)
        if sum(t.num_rows for t in pending[type_name]) >= ROW_GROUP:
            result.events += _flush(files, converter.columns[type_name], pending.pop(type_name))


def _bar(stream: TextIO | None) -> Progress:
    """A progress bar of sequences done out of the range, on ``stream`` (None: not shown)."""
    return Progress(
        TextColumn("export"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("sequences"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream or io.StringIO()),
        disable=stream is None,
    )


def _flush(files: OutputFiles, columns: EventColumns, tables: list[pa.Table]) -> int:
    table = pa.concat_tables(tables)
    files.write(columns.table_name, table)
    return int(table.num_rows)


def _run_record(request: ExportRequest, result: ExportResult) -> dict[str, Any]:
    return {
        "first_sequence": result.first_sequence,
        "last_sequence": result.last_sequence,
        "events": result.events,
        "rejected": result.rejected,
        "since": _iso(request.since),
        "until": _iso(request.until),
        "files": [str(p.relative_to(request.out)) for p in result.files],
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None
