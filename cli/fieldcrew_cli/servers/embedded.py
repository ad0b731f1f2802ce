"""Start/stop the whole local infrastructure; environment variables override single servers."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from fieldcrew_cli.servers.child import Child, launch_all
from fieldcrew_cli.servers.credentials import persisted_secret
from fieldcrew_cli.servers.nats_cluster import NatsCluster
from fieldcrew_cli.servers.nats_server import INTEGRATION_USER, SERVICE_USERS, NatsServer
from fieldcrew_cli.servers.ports import Ports, ensure_free
from fieldcrew_cli.servers.postgres_server import PostgresServer
from fieldcrew_cli.servers.process import ManagedProcess, ServerStartError
from fieldcrew_cli.servers.s3_server import SeaweedS3Server

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Infra:
    """Connection settings of the running (or externally provided) backing servers.

    ``nats_url`` is the NATS admin (creates the stream; the CLI's ``rebuild``/``events``);
    ``nats_urls`` maps a service to the URL of its own NATS user, allowed to publish only its
    own subjects. A service missing there uses ``nats_url``.
    """

    nats_url: str
    database_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_secure: bool = False
    nats_urls: dict[str, str] = field(default_factory=dict)


class _Server(Protocol):
    def children(self, log_dir: Path) -> list[Child]: ...


@dataclass(frozen=True)
class Plan:
    """What :meth:`EmbeddedServers.start` runs: the settings the services get, the server
    processes (only those the environment does not replace) and, per kind of server
    (``nats``, ``postgres``, ``s3``), the names of its processes."""

    infra: Infra
    children: list[Child]
    kinds: dict[str, tuple[str, ...]]


class EmbeddedServers:
    """NATS JetStream, PostgreSQL and S3 (SeaweedFS) as child processes, data in ``data_dir``.

    Layout: ``nats/`` (or ``nats-cluster/n1`` ... with ``nats_nodes=3``), ``pg/``, ``s3/``,
    ``secrets.json`` and ``logs/``. A restart over the same directory finds the same streams,
    databases and objects; a data dir keeps the number of NATS nodes it was made with.
    ``FIELDCREW_NATS_URL`` (the admin; with ``FIELDCREW_<SERVICE>_NATS_URL`` for services' own
    users),
    ``FIELDCREW_DATABASE_URL`` and ``FIELDCREW_S3_ENDPOINT`` (with ``FIELDCREW_S3_ACCESS_KEY``,
    ``FIELDCREW_S3_SECRET_KEY``, ``FIELDCREW_S3_SECURE``) replace the matching embedded server.
    """

    start_timeout: float = 60.0

    def __init__(self, data_dir: Path, *, ports: Ports | None = None, nats_nodes: int = 1) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.ports = ports if ports is not None else Ports()
        self.nats_nodes = nats_nodes
        self._procs: list[ManagedProcess] = []
        self._infra: Infra | None = None

    def start(self) -> Infra:
        """Start every server not overridden by the environment; block until all are ready."""
        if self._infra is None:
            atexit.register(self.stop)
            try:
                plan = self.plan()
                self._procs = launch_all(plan.children, self.start_timeout)
                self._infra = plan.infra
            except BaseException:
                self.stop()
                raise
        return self._infra

    def stop(self) -> None:
        """Stop every process this instance started (SIGTERM/SIGINT, then SIGKILL). Idempotent."""
        while self._procs:
            self._procs.pop().stop()
        self._infra = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Infra:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def plan(self) -> Plan:
        """The servers to start (checking that their ports are free) and the settings they
        give; starts nothing (:meth:`start` does, or a supervisor with ``plan().children``)."""
        env = os.environ
        self.data_dir.mkdir(parents=True, exist_ok=True)
        nats = None if env.get("FIELDCREW_NATS_URL") else self._nats()
        pg = None if env.get("FIELDCREW_DATABASE_URL") else self._postgres()
        s3 = None if env.get("FIELDCREW_S3_ENDPOINT") else self._s3()
        s3_settings = s3.settings if s3 else _s3_from_env()  # validate env before launching
        ensure_free([*(nats.ports if nats else []), *(self.ports.weed() if s3 else [])])
        servers: dict[str, _Server] = {
            kind: server
            for kind, server in (("nats", nats), ("s3", s3), ("postgres", pg))
            if server
        }
        children = {kind: server.children(self._log_dir()) for kind, server in servers.items()}
        infra = Infra(
            nats.url if nats else env["FIELDCREW_NATS_URL"],
            pg.url() if pg else env["FIELDCREW_DATABASE_URL"],
            *s3_settings,
            nats_urls=nats.service_urls if nats else _nats_urls_from_env(),
        )
        kinds = {kind: tuple(child.name for child in group) for kind, group in children.items()}
        return Plan(infra, [child for group in children.values() for child in group], kinds)

    def _log_dir(self) -> Path:
        path = self.data_dir / "logs"
        path.mkdir(exist_ok=True)
        return path

    def _nats(self) -> NatsServer | NatsCluster:
        password = persisted_secret(self.data_dir, "nats_password")
        users = (*SERVICE_USERS, INTEGRATION_USER)
        services = {s: persisted_secret(self.data_dir, f"nats_password_{s}") for s in users}
        single, cluster = self.data_dir / "nats", self.data_dir / "nats-cluster"
        if (single if self.nats_nodes > 1 else cluster).exists():
            have = "one node" if self.nats_nodes > 1 else "a cluster"
            raise ServerStartError(
                f"the event log in {self.data_dir} lives on {have}, not on {self.nats_nodes}"
                " NATS node(s): start with that many, or use another FIELDCREW_DATA_DIR"
            )
        if self.nats_nodes > 1:
            return NatsCluster.on(cluster, self.ports, password, services, self.nats_nodes)
        port, monitor = self.ports.nats, self.ports.nats_monitor
        return NatsServer(single, port, monitor, password, services)

    def _postgres(self) -> PostgresServer:
        return PostgresServer(self.data_dir / "pg")

    def _s3(self) -> SeaweedS3Server:
        secret = persisted_secret(self.data_dir, "s3_secret_key")
        return SeaweedS3Server(self.data_dir / "s3", self.ports, secret)


def _nats_urls_from_env() -> dict[str, str]:
    """Services' own users on an external NATS (``FIELDCREW_<SERVICE>_NATS_URL``)."""
    env = os.environ
    names = {s: f"FIELDCREW_{s.upper()}_NATS_URL" for s in (*SERVICE_USERS, INTEGRATION_USER)}
    return {s: env[name] for s, name in names.items() if env.get(name)}


def _s3_from_env() -> tuple[str, str, str, bool]:
    """``(endpoint, access key, secret key, secure)`` of an external S3."""
    env = os.environ
    missing = [k for k in ("FIELDCREW_S3_ACCESS_KEY", "FIELDCREW_S3_SECRET_KEY") if k not in env]
    if missing:
        raise ValueError(f"FIELDCREW_S3_ENDPOINT is set but {', '.join(missing)} is not")
    secure = env.get("FIELDCREW_S3_SECURE", "").strip().lower() in _TRUE
    endpoint = env["FIELDCREW_S3_ENDPOINT"]
    return endpoint, env["FIELDCREW_S3_ACCESS_KEY"], env["FIELDCREW_S3_SECRET_KEY"], secure
