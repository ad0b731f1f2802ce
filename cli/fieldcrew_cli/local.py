"""The local data folder (``.fieldcrew/`` by default): keys, server data, the run's settings.

``fieldcrew run`` writes ``<data>/run.env`` with the ``FIELDCREW_*`` settings of the running
system, so that ``fieldcrew token``, ``demo``, ``rebuild`` and ``events`` find it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fieldcrew_shared.auth import ensure_keypair

ISSUER = "fieldcrew-local"
AUDIENCE = "fieldcrew"


def data_dir() -> Path:
    return Path(os.environ.get("FIELDCREW_DATA_DIR", ".fieldcrew")).resolve()


def keypair(base: Path | None = None) -> tuple[Path, Path]:
    """(private, public) PEM files, generated on first use."""
    return ensure_keypair((base or data_dir()) / "keys")


def write_env(base: Path, env: dict[str, str]) -> Path:
    path = base / "run.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    path.chmod(0o600)
    return path


def read_env(base: Path | None = None) -> dict[str, str]:
    """The running system's settings, overridden by the process environment."""
    path = (base or data_dir()) / "run.env"
    env: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                env[key] = value
    env.update({k: v for k, v in os.environ.items() if k.startswith("FIELDCREW_")})
    return env
