"""One scenario's own system: NATS JetStream, PostgreSQL and S3 from the wheels, and the five
services as processes, all on free ports in a folder of its own (never the test session's
servers: a scenario kills them).

The servers are started here from their classes in ``fieldcrew_cli.servers``, not through
``EmbeddedServers``: a scenario restarts a server it killed or stopped, and
``EmbeddedServers`` would also take over servers named by ``FIELDCREW_*_URL`` variables,
which the test session sets for its own in-process apps.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
from fieldcrew_cli.servers import Infra, Ports
from fieldcrew_cli.servers.nats_server import SERVICE_USERS, NatsServer
from fieldcrew_cli.servers.postgres_server import PostgresServer
from fieldcrew_cli.servers.process import ManagedProcess
from fieldcrew_cli.servers.s3_server import SeaweedS3Server
from fieldcrew_cli.stack import SERVICES, Stack, create_stream, service_env
from fieldcrew_shared.auth import Role, ensure_keypair, mint

from tests.faults.processes import Child, Processes, Restarter

ISSUER, AUDIENCE = "fieldcrew-local", "fieldcrew"
SERVERS = ("nats", "postgres", "s3")
START_TIMEOUT = 90.0
# The driver is many phones in one process: the gateway's per-user limit is not under test.
GATEWAY_LIMITS = {"FIELDCREW_RATE_LIMIT_PER_SECOND": "1000", "FIELDCREW_RATE_LIMIT_BURST": "2000"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Options:
    """What a scenario needs beyond the usual system."""

    aggregator_replicas: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)


class System:
    """Servers and services of one scenario, with a restarter watching them all."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self._exits = ExitStack()
        self.folder = Path(
            self._exits.enter_context(tempfile.TemporaryDirectory(prefix="fc-faults-"))
        )
        self.folder.chmod(0o755)  # as root, PostgreSQL runs as another user who must enter
        self.logs = self.folder / "logs"
        self.logs.mkdir()
        self.processes = Processes()
        self.restarter = Restarter(self.processes)
        private, self.public_key = ensure_keypair(self.folder / "keys")
        self.private_key = private.read_bytes()
        self.ports = Ports.free()
        self.service_ports = {name: free_port() for name in self.service_names}
        self.servers: dict[str, NatsServer | PostgresServer | SeaweedS3Server] = {}
        self.infra: Infra | None = None
        self.env: dict[str, str] = {}

    @property
    def service_names(self) -> list[str]:
        replicas = [f"aggregator-{i}" for i in range(2, self.options.aggregator_replicas + 1)]
        return [*SERVICES, *replicas]

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> System:
        try:
            self._start_servers()
            self._start_services()
        except BaseException:
            self.close()
            raise
        self.restarter.start()
        return self

    def close(self) -> None:
        if self.restarter.is_alive():
            self.restarter.close()
        names = [n for n in reversed(self.service_names) if n in self.processes.children]
        self.processes.stop_all(names + [n for n in SERVERS if n in self.processes.children])
        self._exits.close()

    def __enter__(self) -> System:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start_servers(self) -> None:
        root = self.folder / "servers"
        services = {s: secrets.token_hex(16) for s in SERVICE_USERS}
        nats = NatsServer(root / "nats", self.ports.nats, None, secrets.token_hex(16), services)
        pg = PostgresServer(root / "pg")
        s3 = SeaweedS3Server(root / "s3", self.ports, secrets.token_hex(16))
        self.servers = {"nats": nats, "postgres": pg, "s3": s3}
        managed: dict[str, ManagedProcess] = {}
        for name, server in self.servers.items():
            launched = self._server_child(name, server).launched
            assert launched is not None
            managed[name] = launched
        deadline = time.monotonic() + START_TIMEOUT
        for name, server in self.servers.items():
            server.wait_ready(managed[name], deadline)
        self.infra = Infra(nats.url, pg.url(), *s3.settings, nats_urls=nats.service_urls)
        create_stream(nats.url)

    def _server_child(
        self, name: str, server: NatsServer | PostgresServer | SeaweedS3Server
    ) -> _ServerChild:
        holder = _ServerChild(server, self.logs)
        # PostgreSQL: SIGINT, a fast shutdown. S3: weed waits ~15 s on its gRPC streams when
        # asked to stop; what it acknowledged is on disk already (fieldcrew_cli.servers).
        sig, wait = {"postgres": (signal.SIGINT, 30.0), "s3": (signal.SIGTERM, 1.0)}.get(
            name, (signal.SIGTERM, 10.0)
        )
        child = Child(name, holder.launch, on_stop=holder.cleanup, stop_signal=sig,
                      stop_timeout=wait)  # fmt: skip
        self.processes.add(child).start()
        return holder

    def _start_services(self) -> None:
        assert self.infra is not None
        ports = {name: self.service_ports[name] for name in SERVICES}
        self.env = {**service_env(self.infra, self.public_key, ports), **self.options.extra_env}
        self.env["FIELDCREW_JWT_ISSUER"], self.env["FIELDCREW_JWT_AUDIENCE"] = ISSUER, AUDIENCE
        for name in self.service_names:
            self.processes.add(Child(name, self._service_launcher(name))).start()
        deadline = time.monotonic() + START_TIMEOUT
        for name in self.service_names:
            self.wait_healthy(name, deadline)

    def _service_launcher(self, name: str) -> Callable[[], subprocess.Popen[bytes]]:
        service = name.split("-")[0]
        stack = Stack(logs=self.logs, env=self.env, ports=dict(self.service_ports))
        env = stack.env_of(service)
        env["FIELDCREW_PORT"] = str(self.service_ports[name])
        if service == "gateway":
            env.update(GATEWAY_LIMITS)
        log_path = self.logs / f"{name}.log"

        def launch() -> subprocess.Popen[bytes]:
            with log_path.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", f"fieldcrew_{service}"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

        return launch

    # -- what tests and faults use ---------------------------------------------------------

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

    def healthy(self, name: str) -> bool:
        url = f"http://127.0.0.1:{self.service_ports[name]}/healthz"
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, name: str, deadline: float) -> None:
        while not self.healthy(name):
            if time.monotonic() > deadline:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise TimeoutError(f"{name} is not healthy; its log ends:\n{tail}")
            time.sleep(0.1)

    async def wait_all_healthy(self, within: float = 60.0) -> None:
        """Every service answers ``/healthz`` (the restarter brings back what died)."""
        deadline = time.monotonic() + within
        for name in self.service_names:
            await asyncio.to_thread(self.wait_healthy, name, deadline)

    def log_tails(self, lines: int = 20) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)


@dataclass
class _ServerChild:
    """Launches a server of ``fieldcrew_cli.servers`` again and again in the same folder."""

    server: NatsServer | PostgresServer | SeaweedS3Server
    logs: Path
    launched: ManagedProcess | None = None

    def launch(self) -> subprocess.Popen[bytes]:
        self.launched = self.server.launch(self.logs)
        return self.launched.popen

    def cleanup(self) -> None:
        if self.launched is not None and self.launched.after_stop is not None:
            self.launched.after_stop()
