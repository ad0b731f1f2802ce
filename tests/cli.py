"""The ``fieldcrew`` command run as a user runs it: its own process, pointed at the
session's servers by ``FIELDCREW_*`` variables."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def _run(
    env: dict[str, str], args: tuple[str, ...], cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldcrew_cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def fieldcrew(
    nats_url: str, data_dir: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``fieldcrew ARGS`` with the NATS admin at ``nats_url`` (and ``env``, more
    ``FIELDCREW_*`` variables), in folder ``cwd``, run off the event loop."""
    variables = {"FIELDCREW_NATS_URL": nats_url, "FIELDCREW_DATA_DIR": str(data_dir), **env}
    return await asyncio.to_thread(_run, variables, args, cwd)
