"""2 export: ``fieldcrew events export --format parquet`` of the whole log next to the raw
ordered read of the same stream (bench/rebuild.py's ``raw_read``), taking turns."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nats
import pyarrow.parquet as pq
from fieldcrew_cli.export import ExportRequest, export
from fieldcrew_shared.eventstore import EventStore, connect
from nats.aio.client import Client as NATS

from bench.env import BenchEnv
from bench.rebuild import raw_read
from bench.stats import Results, Row, median

SECTION = "2 export"


async def our_export(nc: NATS, into: Path) -> tuple[int, float, dict[str, int]]:
    """Export the whole log as Parquet into a fresh folder; (sequences, seconds, rows per
    table read back). The folder is removed after."""
    store = EventStore(nc, source="bench")
    out = Path(tempfile.mkdtemp(prefix="export-", dir=into))
    try:
        started = time.perf_counter()
        result = await export(store, ExportRequest(out=out), progress=None)
        seconds = time.perf_counter() - started
        rows = {p.parent.name: pq.ParquetFile(p).metadata.num_rows for p in result.files}
        rows["rejected"] = result.rejected
        return result.last_sequence - result.first_sequence + 1, seconds, rows
    finally:
        shutil.rmtree(out, ignore_errors=True)


async def run(env: BenchEnv, results: Results, *, reps: int) -> None:
    """Our export and the raw read, interleaved ``reps`` times over the same log."""
    nc = await connect(env.infra.nats_url, name="bench-export")
    raw_nc = await nats.connect(env.infra.nats_url, name="bench-export-raw")
    ours: list[float] = []
    raw: list[float] = []
    checks: list[dict[str, int]] = []
    events = 0
    try:
        for rep in range(reps):
            for side in ("ours", "raw") if rep % 2 == 0 else ("raw", "ours"):
                if side == "raw":
                    count, seconds = await raw_read(raw_nc)
                    raw.append(count / seconds)
                else:
                    events, seconds, rows = await our_export(nc, env.folder)
                    ours.append(events / seconds)
                    checks.append(rows)
    finally:
        await nc.drain()
        await raw_nc.drain()
    right = all(sum(c.values()) - c["rejected"] == events and not c["rejected"] for c in checks)
    results.record(SECTION, "export", {
        "events_in_log": events, "rates_ours": ours, "rates_raw_read": raw,
        "rows_read_back": checks, "rows_right": right,
    })  # fmt: skip
    rate, reference = median(ours), median(raw)
    met = rate >= 0.5 * reference
    results.add(Row(SECTION, f"export {events:,} events to Parquet", rate, "events/s",
                    reference, "raw read", ">=0.5x raw read", met))  # fmt: skip
    results.add(Row(SECTION, "export rows right (every event, read back)", float(right),
                    "1 = yes", None, "", "all", right))  # fmt: skip
