"""A 3-node NATS JetStream cluster for tests, as ``fieldcrew run --nats-nodes 3`` runs it:
three ``nats-server`` processes from the wheel, routed to each other, each with its own store
(``sync_interval: always``), the same users as the single server, the ``FIELDCREW`` stream on
3 replicas, and a supervisor that restarts a node that dies (so a test may kill one).

The ``nats_cluster`` fixture of ``tests/conftest.py`` starts one per session, on first use.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fieldcrew_cli.servers import Ports
from fieldcrew_cli.servers.nats_cluster import NatsCluster
from fieldcrew_cli.servers.nats_server import SERVICE_USERS
from fieldcrew_cli.stack import create_stream
from fieldcrew_cli.supervisor import RestartPolicy, Supervisor

# tests kill nodes on purpose, and often: restart quickly, never call it a crash loop
TEST_POLICY = RestartPolicy(first_delay=0.2, max_delay=2.0, loop_exits=10_000)


@dataclass(frozen=True)
class LocalCluster:
    """A running cluster: its nodes (``nats-1`` ...), URLs and the supervisor of its
    processes (``supervisor.pid("nats-2")``, ``supervisor.wait_restarted(...)``)."""

    cluster: NatsCluster
    supervisor: Supervisor
    logs: Path

    @property
    def url(self) -> str:
        """The admin's URLs of all three nodes."""
        return self.cluster.url

    @property
    def service_urls(self) -> dict[str, str]:
        """Each service's URLs of all three nodes, with its own user."""
        return self.cluster.service_urls

    def leader(self) -> str | None:
        """The node that leads the stream now."""
        return self.cluster.leader()


@contextmanager
def local_cluster(policy: RestartPolicy = TEST_POLICY) -> Iterator[LocalCluster]:
    """Start a 3-node cluster on free ports in a temporary folder, with the stream (R3)."""
    with tempfile.TemporaryDirectory(prefix="fieldcrew-cluster-") as folder:
        root = Path(folder)
        (root / "logs").mkdir()
        passwords = {service: secrets.token_hex(16) for service in SERVICE_USERS}
        cluster = NatsCluster.on(root / "nats", Ports.free(), secrets.token_hex(16), passwords)
        supervisor = Supervisor(policy)
        try:
            supervisor.start(cluster.children(root / "logs"))
            create_stream(cluster.url, replicas=3)
            yield LocalCluster(cluster, supervisor, root / "logs")
        finally:
            supervisor.stop()
