"""One scenario's own system: NATS JetStream, PostgreSQL and S3 from the wheels, and the six
services as processes, all on free ports in a folder of its own (never the test session's
servers: a scenario kills them), kept running by the supervisor of ``fieldcrew run``.

The servers are made here from their classes in ``fieldcrew_cli.servers``, not through
``EmbeddedServers``: that would take over servers named by ``FIELDCREW_*_URL`` variables,
which the test session sets for its own in-process apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import socket
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from fieldcrew_cli.servers import Infra, Ports
from fieldcrew_cli.servers.nats_cluster import NatsCluster
from fieldcrew_cli.servers.nats_server import SERVICE_USERS, NatsServer
from fieldcrew_cli.servers.postgres_server import PostgresServer
from fieldcrew_cli.servers.process import ManagedProcess, spawn
from fieldcrew_cli.servers.s3_server import SeaweedS3Server
from fieldcrew_cli.stack import SERVICES, Stack, create_stream, service_env
from fieldcrew_cli.supervisor import Child, RestartPolicy, Supervisor
from fieldcrew_shared.auth import Role, ensure_keypair, mint

ISSUER, AUDIENCE = "fieldcrew-local", "fieldcrew"
START_TIMEOUT = 120.0
# The driver is many phones in one process: the gateway's per-user limit is not under test.
GATEWAY_LIMITS = {"FIELDCREW_RATE_LIMIT_PER_SECOND": "1000", "FIELDCREW_RATE_LIMIT_BURST": "2000"}
# As `fieldcrew run` restarts, but a scenario's kills are on purpose, never a crash loop, and
# a service killed again soon waits at most 4 s to come back.
POLICY = RestartPolicy(max_delay=4.0, loop_exits=1_000_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Options:
    """What a scenario needs beyond the usual system."""

    aggregator_replicas: int = 1
    nats_nodes: int = 1  # 3: a cluster (``nats-1`` ...), the stream on 3 replicas
    extra_env: dict[str, str] = field(default_factory=dict)


class System:
    """Servers and services of one scenario, under a supervisor, and the faults done to them
    (each to the process's whole group, so PostgreSQL's backends share its fate)."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self._exits = ExitStack()
        self.folder = Path(
            self._exits.enter_context(tempfile.TemporaryDirectory(prefix="fc-faults-"))
        )
        self.folder.chmod(0o755)  # as root, PostgreSQL runs as another user who must enter
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        self.supervisor = Supervisor(POLICY, status_file=self.folder / "status.json")
        private, self.public_key = ensure_keypair(self.folder / "keys")
        self.private_key = private.read_bytes()
        self.ports = Ports.free()
        replicas = [f"aggregator-{i}" for i in range(2, self.options.aggregator_replicas + 1)]
        self.service_names = [*SERVICES, *replicas]
        self.service_ports = {name: free_port() for name in self.service_names}
        self.infra: Infra | None = None
        self.nats: NatsServer | NatsCluster | None = None
        self.paused: set[str] = set()

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> System:
        try:
            kinds = self._start_servers()
            self._start_services(kinds)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for name in list(self.paused):
            self.resume(name)
        self.supervisor.stop()
        self._exits.close()

    def __enter__(self) -> System:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start_servers(self) -> dict[str, tuple[str, ...]]:
        root = self.folder / "servers"
        services = {s: secrets.token_hex(16) for s in SERVICE_USERS}
        nodes, password = self.options.nats_nodes, secrets.token_hex(16)
        self.nats = nats = (
            NatsServer(root / "nats", self.ports.nats, None, password, services)
            if nodes == 1
            else NatsCluster.on(root / "nats", self.ports, password, services, nodes)
        )
        pg = PostgresServer(root / "pg")
        s3 = SeaweedS3Server(root / "s3", self.ports, secrets.token_hex(16))
        groups = {kind: server.children(self.logs)
                  for kind, server in (("nats", nats), ("postgres", pg), ("s3", s3))}  # fmt: skip
        self.supervisor.start([c for group in groups.values() for c in group], START_TIMEOUT)
        self.infra = Infra(nats.url, pg.url(), *s3.settings, nats_urls=nats.service_urls)
        create_stream(nats.url, replicas=nodes)
        return {kind: tuple(c.name for c in group) for kind, group in groups.items()}

    def _start_services(self, kinds: dict[str, tuple[str, ...]]) -> None:
        assert self.infra is not None
        replicas = self.options.nats_nodes
        env = service_env(self.infra, self.public_key, self.service_ports, replicas)
        env |= {"FIELDCREW_JWT_ISSUER": ISSUER, "FIELDCREW_JWT_AUDIENCE": AUDIENCE}
        env |= GATEWAY_LIMITS | self.options.extra_env
        self.stack = Stack(logs=self.logs, env=env, ports=dict(self.service_ports))
        children = self.stack.children(kinds)
        for name in self.service_names[len(SERVICES) :]:
            launch = functools.partial(self._launch_replica, name)
            probe = functools.partial(self.stack.probe, name)
            needs = next(c.requires for c in children if c.name == name.split("-")[0])
            children.append(Child(name, launch, probe, requires=needs))
        self.supervisor.start(children, timeout=START_TIMEOUT)

    def _launch_replica(self, name: str) -> ManagedProcess:
        """Another process of a service (``aggregator-2``) on a port of its own."""
        env = self.stack.env_of(name.split("-")[0]) | {
            "FIELDCREW_PORT": str(self.service_ports[name])
        }
        argv = [sys.executable, "-m", f"fieldcrew_{name.split('-')[0]}"]
        return spawn(name, argv, log_dir=self.logs, cwd=Path.cwd(), env=env, stop_timeout=15.0)

    # -- faults ----------------------------------------------------------------------------

    def _signal(self, name: str, sig: int) -> bool:
        pid = self.supervisor.pid(name)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        return True

    def kill(self, name: str) -> bool:
        """``kill -9`` of ``name``'s process group; False when it was not running (coming
        back from the last kill). The supervisor restarts it."""
        return self._signal(name, signal.SIGKILL)

    def pause(self, name: str) -> None:
        """``SIGSTOP``: its sockets still accept, it answers nothing."""
        if self._signal(name, signal.SIGSTOP):
            self.paused.add(name)

    def resume(self, name: str) -> None:
        self._signal(name, signal.SIGCONT)
        self.paused.discard(name)

    def hold_down(self, name: str) -> None:
        """Stop ``name`` its clean way (PostgreSQL: a fast shutdown) and keep it down."""
        self.supervisor.hold_down(name)

    def release(self, name: str) -> None:
        self.supervisor.release(name)

    def restarts(self) -> dict[str, int]:
        return {row.name: row.restarts for row in self.supervisor.rows() if row.restarts}

    async def wait_ready(self, within: float = 120.0) -> None:
        """Every process up and ready again (``/readyz`` for the services)."""
        await asyncio.to_thread(self.supervisor.wait_ready, None, within)

    # -- what the driver and the checker use -----------------------------------------------

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.service_ports['gateway']}"

    @property
    def nats_admin_url(self) -> str:
        assert self.infra is not None
        return self.infra.nats_url

    @property
    def database_url(self) -> str:
        assert self.infra is not None
        return self.infra.database_url

    def token(self, sub: str, role: Role = Role.technician) -> str:
        return mint(
            self.private_key, sub=sub, role=role, issuer=ISSUER, audience=AUDIENCE,
            ttl_seconds=24 * 3600,
        )  # fmt: skip

    def log_tails(self, lines: int = 20) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)
