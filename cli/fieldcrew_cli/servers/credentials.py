"""Random secrets generated on first start and persisted in the data dir."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

SECRETS_FILE = "secrets.json"


def persisted_secret(data_dir: Path, name: str) -> str:
    """Return secret ``name`` from ``data_dir/secrets.json``, creating it on first use."""
    path = data_dir / SECRETS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_hex(24)
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored[name]


def write_private(path: Path, text: str) -> None:
    """Atomically write ``text`` to ``path`` readable by the owner only (mode 0600)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
