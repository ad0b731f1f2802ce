"""The ``fieldcrew`` command: run the system locally, mint tokens, play the demo, rebuild
projections, and read the event log."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from fieldcrew_shared.auth import Role, mint
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from fieldcrew_cli import backup_commands, local

AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _token(args: argparse.Namespace) -> int:
    if local.production_mode():
        print(
            "fieldcrew token mints local tokens only; in FIELDCREW_MODE=production tokens "
            "come from the identity provider",
            file=sys.stderr,
        )
        return 2
    private, _ = local.keypair()
    token = mint(
        private.read_bytes(),
        sub=args.sub,
        role=Role(args.role),
        issuer=local.ISSUER,
        audience=local.AUDIENCE,
        ttl_seconds=args.ttl,
    )
    print(token)
    return 0


def _run(args: argparse.Namespace) -> int:
    from fieldcrew_cli.run import run

    return run(local.data_dir(), port_base=args.port_base, nats_nodes=args.nats_nodes)


def _status(args: argparse.Namespace) -> int:
    from fieldcrew_cli.status import show

    return show(local.data_dir())


def _demo(args: argparse.Namespace) -> int:
    from fieldcrew_cli.demo import demo

    return asyncio.run(demo(args.url))


def _rebuild(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import rebuild_aggregator

    return asyncio.run(rebuild_aggregator(switch=not args.dry_run))


def _events(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import print_events

    return asyncio.run(print_events(args.filter, args.work_order, args.start))


def _export(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import export_events
    from fieldcrew_cli.export import ExportRequest

    request = ExportRequest(
        out=args.out,
        file_format=args.format,
        from_seq=args.from_seq,
        since=args.since,
        until=args.until,
        types=tuple(args.type or ()),
    )
    return asyncio.run(export_events(request, quiet=args.quiet))


def _replay(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import replay_projection

    return asyncio.run(replay_projection(args.projection, args.schema, follow=args.follow))


def _report(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import print_report

    return asyncio.run(print_report(args.work_order, args.as_of))


def _asyncapi(args: argparse.Namespace) -> int:
    from fieldcrew_shared.asyncapi import render

    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is not the generated document: run `fieldcrew asyncapi`")
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


def _time(text: str) -> datetime:
    """An RFC 3339 time with its offset (argparse's ``type``)."""
    try:
        return AWARE.validate_python(text).astimezone(UTC)
    except (ValidationError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time with an offset, e.g. 2026-11-02T08:00:00Z"
        ) from None


def _export_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from fieldcrew_cli.export import FORMATS

    x = sub.add_parser(
        "export",
        help="export the log as files, one table per event type (docs/analytics.md)",
        description="Export the event log: one row per event, the envelope and the data as"
        " typed columns, one folder per event type; incremental (a manifest records the last"
        " sequence exported and the next export starts after it).",
    )
    x.add_argument("--format", choices=FORMATS, default="parquet")
    x.add_argument("--out", type=Path, required=True, help="folder of the export")
    start = x.add_mutually_exclusive_group()
    start.add_argument("--from-seq", type=int, metavar="N", help="first stream sequence")
    start.add_argument("--since", type=_time, metavar="TIME", help="first event stored then")
    x.add_argument("--until", type=_time, metavar="TIME", help="last event stored by then")
    x.add_argument(
        "--type", action="extend", nargs="+", metavar="TYPE", help="only these CloudEvents types"
    )
    x.add_argument("--quiet", action="store_true", help="no progress bar")
    x.set_defaults(func=_export)


def _stream(args: argparse.Namespace) -> int:
    from fieldcrew_cli.admin import ensure_stream

    return asyncio.run(ensure_stream(args.replicas))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldcrew", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("token", help="print a signed bearer token for local use")
    t.add_argument("--sub", required=True, help="user id (crews name people by it)")
    t.add_argument("--role", required=True, choices=[r.value for r in Role])
    t.add_argument("--ttl", type=int, default=8 * 3600, help="seconds (default 8 h)")
    t.set_defaults(func=_token)
    run = sub.add_parser("run", help="start the servers and all services, supervised")
    run.add_argument(
        "--port-base",
        type=int,
        default=_env_int("FIELDCREW_PORT_BASE"),
        help="gateway on this port, services on the next five, servers from +10 to +27 "
        "(default: FIELDCREW_PORT_BASE, else 8080, 8181-8185, 14222, 18222, 18333-19338)",
    )
    run.add_argument(
        "--nats-nodes",
        type=int,
        choices=[1, 3],
        default=_env_int("FIELDCREW_NATS_NODES") or 1,
        help="1 NATS server, or a cluster of 3 with the stream on 3 replicas (default: "
        "FIELDCREW_NATS_NODES, else 1); a data dir keeps the number it was made with",
    )
    run.set_defaults(func=_run)
    sub.add_parser(
        "status", help="every process of the running system: pid, uptime, restarts, readiness"
    ).set_defaults(func=_status)
    d = sub.add_parser("demo", help="play a whole crew flow through the gateway")
    d.add_argument("--url", default=None, help="gateway URL (default: the running system)")
    d.set_defaults(func=_demo)
    r = sub.add_parser("rebuild", help="rebuild a projection from the event log")
    r.add_argument("projection", choices=["aggregator"])
    r.add_argument("--dry-run", action="store_true", help="rebuild beside, do not switch")
    r.set_defaults(func=_rebuild)
    e = sub.add_parser("events", help="print stored events as JSON lines (for analysts)")
    e.add_argument("--filter", default="fieldcrew.>", help="NATS subject filter")
    e.add_argument("--work-order", default=None, help="only this work order's events")
    e.add_argument("--start", type=int, default=1, help="first stream sequence")
    e.set_defaults(func=_events)
    _export_parser(e.add_subparsers(dest="events_command"))
    rl = sub.add_parser(
        "replay",
        help="run a projection of your own from the log into its own schema (docs/projections.md)",
    )
    rl.add_argument("--projection", required=True, metavar="MODULE:NAME", help="its class")
    rl.add_argument("--schema", required=True, help="the PostgreSQL schema it writes into")
    rl.add_argument("--follow", action="store_true", help="keep applying new events (Ctrl-C)")
    rl.set_defaults(func=_replay)
    rp = sub.add_parser(
        "report", help="a server report as it stood at any moment, folded from the log"
    )
    rp.add_argument("work_order", type=UUID, help="the work order's id")
    rp.add_argument(
        "--as-of",
        metavar="TIME_OR_SEQ",
        help="an RFC 3339 time or a stream sequence (default: now)",
    )
    rp.set_defaults(func=_report)
    a = sub.add_parser("asyncapi", help="write the AsyncAPI document of the events")
    a.add_argument("--out", type=Path, default=Path("docs/asyncapi.json"))
    a.add_argument("--check", action="store_true", help="only say whether --out is up to date")
    a.set_defaults(func=_asyncapi)
    st = sub.add_parser(
        "stream", help="as the NATS admin: create the event log's stream, or check and fix it"
    )
    st.add_argument(
        "--replicas",
        type=int,
        default=_env_int("FIELDCREW_STREAM_REPLICAS") or 1,
        help="least replicas (default: FIELDCREW_STREAM_REPLICAS, else 1; 3 on a cluster)",
    )
    st.set_defaults(func=_stream)
    backup_commands.add_commands(sub)
    return p


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(args.func(args))
