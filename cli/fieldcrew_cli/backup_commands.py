"""The ``fieldcrew backup`` and ``fieldcrew restore`` commands, with a progress bar on stderr.

Both talk to NATS as the admin user (``FIELDCREW_NATS_URL`` of the running system or the
environment): the services' own users may neither snapshot nor create the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.eventstore import STREAM, connect

from fieldcrew_cli import local
from fieldcrew_cli.backup import BackupFileError, Progress, backup
from fieldcrew_cli.restore import RestoreError, restore


class Bar(Progress):
    """A rich progress bar of messages done out of the total, on stderr."""

    def __init__(self, what: str) -> None:
        # imported here: every other ``fieldcrew`` command starts without rich
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichBar

        self.bar = RichBar(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task: Any = None

    def start(self, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task("", total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def stop(self) -> None:
        self.bar.stop()


def add_commands(sub: Any) -> None:
    """Add ``backup`` and ``restore`` to the ``fieldcrew`` command's subparsers."""
    b = sub.add_parser("backup", help="write the whole event log to a file (gzip JSON lines)")
    b.add_argument("path", type=Path, help="the backup file to write")
    b.set_defaults(func=_backup)
    r = sub.add_parser("restore", help="put a backup into an empty stream, sequence for sequence")
    r.add_argument("path", type=Path, help="a file written by `fieldcrew backup`")
    r.add_argument(
        "--replicas", type=int, default=None, help="replicas of a stream restore creates"
    )
    r.set_defaults(func=_restore)


def _backup(args: argparse.Namespace) -> int:
    return asyncio.run(_run(lambda nc, bar: _do_backup(nc, bar, args.path), "backing up"))


def _restore(args: argparse.Namespace) -> int:
    return asyncio.run(
        _run(lambda nc, bar: _do_restore(nc, bar, args.path, args.replicas), "restoring")
    )


async def _do_backup(nc: Any, bar: Bar, path: Path) -> str:
    head = await backup(nc, _stream(), path, bar)
    size = (await asyncio.to_thread(path.stat)).st_size
    return (
        f"backed up {head.count} messages of stream {head.stream} (sequences {head.first_seq}"
        f"-{head.last_seq}) to {path} ({size:,} bytes)"
    )


async def _do_restore(nc: Any, bar: Bar, path: Path, replicas: int | None) -> str:
    head = await restore(nc, path, bar, replicas=replicas)
    return (
        f"restored {head.count} messages into stream {head.stream} (sequences"
        f" {head.first_seq}-{head.last_seq}, backup taken {head.taken_at})"
    )


async def _run(work: Any, what: str) -> int:
    bar = Bar(what)
    try:
        nc = await connect(local.read_env()["FIELDCREW_NATS_URL"], name="fieldcrew-cli")
    except (BackendUnavailableError, KeyError) as exc:
        print(f"fieldcrew {what.split()[0]}: no NATS: {exc}", file=sys.stderr)
        return 1
    try:
        summary = await work(nc, bar)
    except (BackupFileError, RestoreError, BackendUnavailableError, OSError) as exc:
        bar.stop()  # before the message, so that it is not drawn over
        print(f"fieldcrew: {what} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.stop()
        await nc.drain()
    print(summary)
    return 0


def _stream() -> str:
    return local.read_env().get("FIELDCREW_STREAM", STREAM)
