"""A NATS JetStream cluster on loopback: three ``nats-server`` processes from the same wheel,
routed to each other, each with its own store (``sync_interval: always``) and the same users
as the single embedded server (docs/adr/0023).

``fieldcrew run --nats-nodes 3`` runs one under its supervisor, and tests can start one (the
``nats_cluster`` fixture of ``tests/conftest.py``); the stream on it has 3 replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fieldcrew_shared.eventstore import STREAM, connect
from nats.js.errors import NotFoundError as JsNotFoundError

from fieldcrew_cli.servers.child import Child
from fieldcrew_cli.servers.nats_server import NatsServer
from fieldcrew_cli.servers.ports import NodePorts, Ports

T = TypeVar("T")


@dataclass(frozen=True)
class NatsCluster:
    """The nodes of one cluster (``nats-1`` ... ``nats-N``); URLs name every node."""

    nodes: tuple[NatsServer, ...]

    @classmethod
    def on(
        cls,
        root: Path,
        ports: Ports,
        password: str,
        service_passwords: Mapping[str, str],
        size: int = 3,
    ) -> NatsCluster:
        """``size`` nodes with their data in ``root/n1`` ... and the ports of
        :meth:`Ports.nats_nodes`."""
        node_ports = ports.nats_nodes(size)
        return cls(tuple(_node(root, i, node_ports, password, service_passwords)
                         for i in range(1, size + 1)))  # fmt: skip

    @property
    def url(self) -> str:
        """The admin's URLs of every node, separated by commas."""
        return ",".join(node.url for node in self.nodes)

    @property
    def service_urls(self) -> dict[str, str]:
        """Each service's URLs of every node, with its own user."""
        services = self.nodes[0].service_passwords
        return {s: ",".join(node.service_urls[s] for node in self.nodes) for s in services}

    @property
    def ports(self) -> list[int]:
        """Every TCP port of every node."""
        return [port for node in self.nodes for port in node.ports]

    def children(self, log_dir: Path) -> list[Child]:
        """The nodes as processes to run (logs ``nats-1.log`` ...)."""
        return [node.child(log_dir) for node in self.nodes]

    def node(self, name: str) -> NatsServer:
        """The node called ``name`` (``nats-2``)."""
        return next(node for node in self.nodes if node.name == name)

    def leader(self, stream: str = STREAM, timeout: float = 10.0) -> str | None:
        """The name of the node that leads ``stream`` now (None: no leader, or no stream)."""
        return _blocking(_leader(self.url, stream, timeout))


async def _leader(url: str, stream: str, wait: float) -> str | None:
    nc = await connect(url, name="fieldcrew-cluster-probe")
    try:
        info = await nc.jetstream(timeout=wait).stream_info(stream)
    except JsNotFoundError:
        return None
    finally:
        await nc.drain()
    return info.cluster.leader if info.cluster is not None else None


def _node(
    root: Path, i: int, nodes: list[NodePorts], password: str, services: Mapping[str, str]
) -> NatsServer:
    own = nodes[i - 1]
    others = tuple(node.cluster for node in nodes if node != own)
    return NatsServer(root / f"n{i}", own.client, own.monitor, password, services,
                      name=f"nats-{i}", cluster_port=own.cluster, routes=others)  # fmt: skip


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in a worker thread (safe inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
