"""The status file ``fieldcrew run`` keeps in its data dir, and ``fieldcrew status``.

The supervisor rewrites ``<data>/status.json`` every second: its own pid, and per process the
pid, since when it is up, its restarts, its readiness (a service's ``/readyz``) and how it
last ended. ``fieldcrew status`` prints it as a table, and says so when ``fieldcrew run`` is
not running (its pid gone, or the file not rewritten for a while).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
STALE_AFTER = 10.0  # seconds without a rewrite: the supervisor is gone or hung
EXIT_OK, EXIT_NOT_READY, EXIT_NOT_RUNNING = 0, 1, 3  # as `systemctl status` uses 3


@dataclass(frozen=True)
class ProcessRow:
    """One supervised process, as the status file holds it (times are Unix seconds)."""

    name: str
    pid: int | None
    up_since: float | None
    restarts: int
    ready: bool
    detail: str
    last_exit: str | None
    last_exit_at: float | None


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 64`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def write(
    path: Path, pid: int, started: float, rows: list[ProcessRow], stopping: bool = False
) -> None:
    """Replace the status file atomically (owner-readable only, like the rest of the data)."""
    doc = {
        "pid": pid,
        "started": started,
        "updated": time.time(),
        "stopping": stopping,
        "processes": [asdict(row) for row in rows],
    }
    tmp = path.with_name(path.name + ".tmp")  # no fsync: it is rewritten every second
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def read(path: Path) -> dict[str, Any] | None:
    """The status file's content, or None when there is none."""
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return doc


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def duration(seconds: float) -> str:
    """``4s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render(doc: dict[str, Any], now: float) -> tuple[str, int]:
    """The table ``fieldcrew status`` prints, and its exit code."""
    running = alive(int(doc["pid"])) and now - float(doc["updated"]) < STALE_AFTER
    rows = [ProcessRow(**row) for row in doc["processes"]]
    if not running or doc.get("stopping"):
        head = f"fieldcrew run is not running (last status {duration(now - doc['updated'])} ago)"
        return head, EXIT_NOT_RUNNING
    lines = [
        f"fieldcrew run (pid {doc['pid']}) up {duration(now - doc['started'])}",
        f"{'process':<12} {'pid':>8} {'uptime':>8} {'restarts':>8}  ready",
    ]
    for row in rows:
        pid = str(row.pid) if row.pid is not None else "-"
        up = duration(now - row.up_since) if row.up_since is not None else "-"
        ready = "yes" if row.ready else f"no ({row.detail})" if row.detail else "no"
        line = f"{row.name:<12} {pid:>8} {up:>8} {row.restarts:>8}  {ready}"
        if row.last_exit and row.last_exit_at is not None:
            line += f"   last exit: {row.last_exit}, {duration(now - row.last_exit_at)} ago"
        lines.append(line)
    code = EXIT_OK if all(row.ready for row in rows) else EXIT_NOT_READY
    return "\n".join(lines), code


def show(data: Path) -> int:
    """``fieldcrew status``: print the table for the data dir ``data``; the exit code says
    0 all ready, 1 something is not ready, 3 not running."""
    doc = read(data / STATUS_FILE)
    if doc is None:
        print(f"fieldcrew run is not running (no {data / STATUS_FILE})")
        return EXIT_NOT_RUNNING
    text, code = render(doc, time.time())
    print(text)
    return code
