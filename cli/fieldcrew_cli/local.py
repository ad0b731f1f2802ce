"""The local data folder (``.fieldcrew/`` by default): keys, server data, the run's settings.

``fieldcrew run`` writes ``<data>/run.env`` with the ``FIELDCREW_*`` settings of the running
system, so that ``fieldcrew token``, ``demo``, ``rebuild`` and ``events`` find it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fieldcrew_shared.auth import ensure_keypair

from fieldcrew_cli.servers.credentials import write_private

ISSUER = "fieldcrew-local"
AUDIENCE = "fieldcrew"


def data_dir() -> Path:
    return Path(os.environ.get("FIELDCREW_DATA_DIR", ".fieldcrew")).resolve()


def keypair(base: Path | None = None) -> tuple[Path, Path]:
    """(private, public) PEM files, generated on first use (``keys/`` created 0700, the private
    key 0600); services verify with the public one, its kid being its RFC 7638 thumbprint."""
    return ensure_keypair((base or data_dir()) / "keys")


def write_env(base: Path, env: dict[str, str]) -> Path:
    """Write the running system's settings (secrets included) readable by the owner only."""
    path = base / "run.env"
    write_private(path, "".join(f"{k}={v}\n" for k, v in sorted(env.items())))
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


def production_mode() -> bool:
    """Whether the environment (or the running system) says ``FIELDCREW_MODE=production``."""
    return read_env().get("FIELDCREW_MODE", "local").strip().lower() == "production"
