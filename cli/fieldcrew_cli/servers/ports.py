"""TCP ports used by the embedded servers."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class NodePorts:
    """One NATS node's ports: clients, routes from the other nodes, HTTP monitoring."""

    client: int
    cluster: int
    monitor: int | None


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
    # the other nodes of a local NATS cluster (fieldcrew run --nats-nodes 3); node 1 is
    # nats / nats_monitor / nats_cluster
    nats_cluster: int = 16222
    nats_2: int = 14223
    nats_monitor_2: int = 18223
    nats_cluster_2: int = 16223
    nats_3: int = 14224
    nats_monitor_3: int = 18224
    nats_cluster_3: int = 16224

    def nats_nodes(self, size: int) -> list[NodePorts]:
        """The ports of the first ``size`` (1 to 3) nodes of a NATS cluster."""
        nodes = [
            NodePorts(self.nats, self.nats_cluster, self.nats_monitor),
            NodePorts(self.nats_2, self.nats_cluster_2, self.nats_monitor_2),
            NodePorts(self.nats_3, self.nats_cluster_3, self.nats_monitor_3),
        ]
        if not 1 <= size <= len(nodes):
            raise ValueError(f"a local NATS cluster has 1 to {len(nodes)} nodes, not {size}")
        return nodes[:size]

    @classmethod
    def from_base(cls, base: int) -> Ports:
        """Every port at a fixed offset from ``base`` (``base`` + 10 to + 27; the services
        take ``base`` to ``base`` + 5, :func:`fieldcrew_cli.stack.service_ports`), so that
        two systems on one machine need only different bases."""
        return cls(*(base + offset for offset in _OFFSETS))

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


# in the order of Ports' fields: NATS, S3 and SeaweedFS, then the other NATS nodes
_OFFSETS = (10, 11, 20, 21, 22, 23, 24, 25, 26, 27, 12, 13, 14, 15, 16, 17, 18)


def ensure_free(ports: list[int]) -> None:
    """Raise ``OSError`` naming the first port that something already listens on."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers do
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise OSError(f"port 127.0.0.1:{port} is already in use ({exc})") from exc


def free_base(span: int = 30, low: int = 20000, high: int = 32000) -> int:
    """A port ``base`` such that ``base`` .. ``base + span - 1`` are all free now, below the
    kernel's ephemeral range (so no outgoing connection takes one meanwhile): for
    ``fieldcrew run --port-base`` in tests. Another process may still bind one before the
    caller does; ``ensure_free`` then says which."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(low, high - span)
        try:
            ensure_free(list(range(base, base + span)))
        except OSError:
            continue
        return base
    raise OSError(f"no {span} free consecutive ports between {low} and {high}")
