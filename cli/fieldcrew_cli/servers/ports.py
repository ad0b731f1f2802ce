"""TCP ports used by the embedded servers."""

from __future__ import annotations

import socket
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Ports:
    """Loopback TCP ports of the embedded servers (PostgreSQL uses a Unix socket, no port).

    The defaults are the fixed ports of ``make run``; use :meth:`free` in tests.
    ``nats_monitor=None`` disables the NATS HTTP monitoring endpoint.
    """

    nats: int = 14222
    nats_monitor: int | None = 18222
    s3: int = 18333
    s3_grpc: int = 18334
    weed_master: int = 19333
    weed_master_grpc: int = 19334
    weed_volume: int = 19335
    weed_volume_grpc: int = 19336
    weed_filer: int = 19337
    weed_filer_grpc: int = 19338

    @classmethod
    def free(cls) -> Ports:
        """Pick distinct free loopback ports (all sockets are held open while choosing)."""
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in fields(cls)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    def weed(self) -> list[int]:
        """All ports the SeaweedFS process listens on."""
        return [
            self.s3, self.s3_grpc, self.weed_master, self.weed_master_grpc,
            self.weed_volume, self.weed_volume_grpc, self.weed_filer, self.weed_filer_grpc,
        ]  # fmt: skip


def ensure_free(ports: list[int]) -> None:
    """Raise ``OSError`` naming the first port that something already listens on."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers do
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise OSError(f"port 127.0.0.1:{port} is already in use ({exc})") from exc
