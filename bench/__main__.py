"""``python -m bench [--quick]``: every benchmark of issue 4 in one run, against fresh real
servers (see bench/README.md). Prints the table and writes ``bench/results/<name>.json``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from fieldcrew_shared.eventstore import EventStore, connect

from bench import append, e2e, export, growth, peer, rebuild, uploads
from bench.env import BenchEnv, machine, versions
from bench.rebuild import Log
from bench.stats import Results, render

RESULTS = Path(__file__).parent / "results"
SECTIONS = ("growth", "rebuild", "export", "e2e", "uploads", "append", "peer")


@dataclass(frozen=True)
class Scale:
    """How much of everything one run does."""

    small_log: int  # events in the log at the first growth probe
    large_log: int  # events the log is filled to (the rebuild's size)
    probe_orders: int  # work orders of a growth probe (x10 events)
    compile_samples: int
    crews: int  # concurrent mobile clients in the crew flow
    flow_orders: int  # work orders per crew-flow repetition
    uploads: dict[str, int]
    append_orders: int
    peer_orders: int
    reps: int = 3


QUICK = Scale(10_000, 20_000, 100, 8, 8, 24, {"50 KB": 24, "5 MB": 4}, 20, 60)
FULL = Scale(10_000, 1_000_000, 1000, 100, 32, 240, {"50 KB": 200, "5 MB": 24}, 300, 10_000)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the small version (under 2 minutes)")
    p.add_argument("--name", help="results file name (default: quick or full)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    p.add_argument("--events", type=int, help="fill the log to this many events")
    p.add_argument("--profile", action="store_true",
                   help="profile one more rebuild: results/<name>-rebuild-profile.txt")  # fmt: skip
    return p.parse_args(argv)


async def server_versions(env: BenchEnv) -> dict[str, str]:
    nc = await connect(env.infra.nats_url, name="bench-versions")
    conn = await asyncpg.connect(env.infra.database_url)
    try:
        return {
            "nats-server (connected)": str(nc.connected_server_version),
            "postgresql": str(await conn.fetchval("SHOW server_version")),
        }
    finally:
        await conn.close()
        await nc.drain()


async def fill_to(env: BenchEnv, log: Log, events: int) -> None:
    nc = await connect(env.infra.nats_url, name="bench-fill")
    try:
        have = await EventStore(nc, source="bench").last_sequence()
        if events > have:
            await rebuild.fill(nc, log, (events - have + 9) // 10)
    finally:
        await nc.drain()


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


async def log_sections(
    env: BenchEnv, results: Results, scale: Scale, only: set[str], profile_into: Path | None
) -> None:
    """Growth probes (the aggregator service live) around the fill, then the rebuild."""
    log = Log()
    if "growth" in only:
        env.start_services()
        progress(f"growth: filling the log to {scale.small_log:,} events, probing")
        await fill_to(env, log, scale.small_log)
        small = await growth.probe(env, log, orders=scale.probe_orders,
                                   samples=scale.compile_samples)  # fmt: skip
        progress(f"growth: filling the log to {scale.large_log:,} events, probing")
        await fill_to(env, log, scale.large_log)
        large = await growth.probe(env, log, orders=scale.probe_orders,
                                   samples=scale.compile_samples)  # fmt: skip
        growth.report(results, small, large)
    if "rebuild" in only:
        await fill_to(env, log, scale.large_log)
        progress("rebuild: ours and the raw read, side by side")
        await rebuild.run(env, results, log, reps=scale.reps)
        if profile_into is not None:
            progress(f"rebuild: one more under pyinstrument -> {profile_into}")
            await rebuild.profile(env, log, profile_into)
    if "export" in only:
        await fill_to(env, log, scale.large_log)
        progress("export: ours (Parquet) and the raw read, side by side")
        await export.run(env, results, reps=scale.reps)


async def main(
    env: BenchEnv, results: Results, scale: Scale, only: set[str], profile_into: Path | None
) -> None:
    await log_sections(env, results, scale, only, profile_into)
    if only & {"e2e", "uploads"}:
        env.start_services()
    if "e2e" in only:
        progress("crew flow through the gateway, and its floor")
        await e2e.run(env, results, crews=scale.crews, orders=scale.flow_orders, reps=scale.reps)
    if "uploads" in only:
        progress("photo uploads, ours and raw S3")
        await uploads.run(env, results, counts=scale.uploads, reps=scale.reps)
    env.stop_services()  # the rest measures the event stores alone, nothing consuming
    if "append" in only:
        progress("append, ours and raw JetStream")
        await append.run(env, results, orders=scale.append_orders, reps=scale.reps)
    if "peer" in only:
        progress("the eventsourcing library, and ours")
        await peer.run(env, results, orders=scale.peer_orders, reps=scale.reps)


def write(name: str, document: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def run(argv: list[str]) -> int:
    args = parse(argv)
    # a TERM unwinds like Ctrl-C: services and servers stopped, the folder removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = QUICK if args.quick else FULL
    if args.events:
        scale = Scale(**{**asdict(scale), "large_log": args.events})
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    name = args.name or ("quick" if args.quick else "full")
    results, started = Results(), time.perf_counter()
    with BenchEnv.start() as env:
        about = {"machine": machine(), "versions": versions(env.infra)}
        about["versions"] |= asyncio.run(server_versions(env))
        RESULTS.mkdir(exist_ok=True)
        profile_into = RESULTS / f"{name}-rebuild-profile.txt" if args.profile else None
        asyncio.run(main(env, results, scale, only, profile_into))
    table = render(results.rows)
    document = {
        "name": name, "command": " ".join(["python -m bench", *argv]),
        "finished": datetime.now(UTC).isoformat(), "seconds": time.perf_counter() - started,
        **about, "scale": asdict(scale), "table": table,
        "rows": [asdict(r) | {"ratio": r.ratio} for r in results.rows],
        "figures": results.figures,
    }  # fmt: skip
    path = write(name, document)
    print(f"\n{table}\n\nmachine: {about['machine']}\n{time.perf_counter() - started:.0f} s;"
          f" every figure in {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
