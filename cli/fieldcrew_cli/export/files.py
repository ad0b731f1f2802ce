"""The files of an export and its manifest.

Layout of ``OUT``::

    manifest.json                               what was exported, up to which sequence
    <context>.<EventName>/part-<first seq>.<ext>  one file per event type per export run
    rejected.jsonl                              events left out, with the reason

A run writes each file under a temporary name and renames it once complete, then writes the
manifest (also by rename): a run that dies leaves no half file a reader would take (readers
glob ``*.parquet``), and the next run starts after the manifest's sequence again, writing the
same names.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from fieldcrew_cli.export.rows import Rejected

FORMATS = ("parquet", "jsonl", "csv")
MANIFEST = "manifest.json"
REJECTED = "rejected.jsonl"


class ExportError(Exception):
    """An export that cannot be done as asked (nothing was written)."""


class TableWriter(Protocol):
    """Writes one event type's tables to one file."""

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class ParquetFile:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()


class JsonLinesFile:
    """One JSON object a line; times in RFC 3339 with ``Z``."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.handle = path.open("wb")

    def write(self, table: pa.Table) -> None:
        option = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
        self.handle.writelines(orjson.dumps(row, option=option) for row in table.to_pylist())

    def close(self) -> None:
        self.handle.close()


class CsvFile:
    """A header line, then a row per event; lists and structs as JSON text."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = pa.schema([_flat_field(f) for f in schema])
        self.writer = pcsv.CSVWriter(path, self.schema)

    def write(self, table: pa.Table) -> None:
        arrays = [_flat(table.column(f.name), f) for f in table.schema]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _nested(kind: pa.DataType) -> bool:
    return bool(pa.types.is_nested(kind))


def _flat_field(f: pa.Field) -> pa.Field:
    return f.with_type(pa.string()) if _nested(f.type) else f


def _flat(column: pa.ChunkedArray, f: pa.Field) -> pa.ChunkedArray | pa.Array:
    if not _nested(f.type):
        return column
    text = [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()]
    return pa.array(text, pa.string())


WRITERS: dict[str, type[ParquetFile] | type[JsonLinesFile] | type[CsvFile]] = {
    "parquet": ParquetFile,
    "jsonl": JsonLinesFile,
    "csv": CsvFile,
}


class OutputFiles:
    """The files one export run writes into ``out``: opened on first rows, completed by
    :meth:`finish`, removed by :meth:`abandon`."""

    def __init__(self, out: Path, file_format: str, first_seq: int) -> None:
        self.out, self.format, self.first_seq = out, file_format, first_seq
        self.open: dict[str, tuple[TableWriter, Path, Path]] = {}
        self.rows: dict[str, int] = {}

    def write(self, folder: str, table: pa.Table) -> None:
        self._open(folder, table.schema).write(table)
        self.rows[folder] = self.rows.get(folder, 0) + table.num_rows

    def cover(self, tables: dict[str, pa.Schema]) -> None:
        """An empty file for each of ``tables`` (folder: schema) that has none yet, so that
        a query of a type no event of which was exported yet finds its columns."""
        for folder, schema in tables.items():
            if folder not in self.open and not any((self.out / folder).glob(f"*.{self.format}")):
                self._open(folder, schema)

    def _open(self, folder: str, schema: pa.Schema) -> TableWriter:
        if folder not in self.open:
            final = self.out / folder / f"part-{self.first_seq:012d}.{self.format}"
            final.parent.mkdir(parents=True, exist_ok=True)
            temporary = final.with_name(f".{final.name}.tmp")
            self.open[folder] = (WRITERS[self.format](temporary, schema), temporary, final)
        return self.open[folder][0]

    def finish(self) -> list[Path]:
        """Close every file and give it its name; the files, by folder."""
        done = []
        for writer, temporary, final in self.open.values():
            writer.close()
            temporary.replace(final)
            done.append(final)
        self.open.clear()
        return sorted(done)

    def abandon(self) -> None:
        for writer, temporary, _ in self.open.values():
            writer.close()
            temporary.unlink(missing_ok=True)
        self.open.clear()


def append_rejected(out: Path, rejected: list[Rejected]) -> None:
    """Add events left out to ``rejected.jsonl`` (the body as text when it is UTF-8)."""
    if not rejected:
        return
    with (out / REJECTED).open("ab") as handle:
        for r in rejected:
            body = r.body.decode("utf-8", errors="backslashreplace")
            line = {"sequence": r.seq, "subject": r.subject, "reason": r.reason, "body": body}
            handle.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} cannot be read: {exc}") from exc
    return manifest


def write_manifest(out: Path, manifest: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Record ``run`` (its range, counts, files) in the manifest, atomically."""
    manifest = {**manifest, "runs": [*manifest.get("runs", []), run]}
    manifest["last_sequence"] = run["last_sequence"]
    manifest["updated_at"] = datetime.now(UTC).isoformat()
    path = out / MANIFEST
    temporary = path.with_name(f".{MANIFEST}.tmp")
    with temporary.open("w") as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    return manifest
