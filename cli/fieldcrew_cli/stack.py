"""Start the six services as their own processes (as ops deploy them), and stop them."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fieldcrew_shared.errors import BackendUnavailableError
from fieldcrew_shared.eventstore import EventStore, connect

from fieldcrew_cli.servers import Infra
from fieldcrew_cli.servers.child import Child, Readiness, launch_all
from fieldcrew_cli.servers.credentials import persisted_secret
from fieldcrew_cli.servers.nats_server import INTEGRATION_USER
from fieldcrew_cli.servers.process import ManagedProcess, spawn

SERVICES = ("dispatch", "team", "photos", "aggregator", "documents", "gateway")
DEFAULT_PORTS = {
    "dispatch": 8181,
    "team": 8182,
    "photos": 8183,
    "aggregator": 8184,
    "documents": 8185,
    "gateway": 8080,
}


def service_ports(base: int | None = None) -> dict[str, int]:
    """The services' ports: the defaults, or ``base`` (gateway) to ``base`` + 5."""
    if base is None:
        return dict(DEFAULT_PORTS)
    offsets = {"gateway": 0, "dispatch": 1, "team": 2, "photos": 3, "aggregator": 4, "documents": 5}
    return {name: base + offsets[name] for name in SERVICES}


def nats_url_variable(service: str) -> str:
    """Where :func:`service_env` keeps ``service``'s own NATS URL."""
    return f"FIELDCREW_{service.upper()}_NATS_URL"


def service_env(
    infra: Infra, public_key: Path, ports: dict[str, int], replicas: int = 1
) -> dict[str, str]:
    """The ``FIELDCREW_*`` settings of the system. ``FIELDCREW_NATS_URL`` is the NATS admin
    (for the CLI); :class:`Stack` gives each service its own user's URL from
    ``FIELDCREW_<SERVICE>_NATS_URL`` instead."""
    return {
        "FIELDCREW_NATS_URL": infra.nats_url,
        "FIELDCREW_STREAM_REPLICAS": str(replicas),
        **{nats_url_variable(s): url for s, url in infra.nats_urls.items()},
        "FIELDCREW_DATABASE_URL": infra.database_url,
        "FIELDCREW_S3_ENDPOINT": infra.s3_endpoint,
        "FIELDCREW_S3_ACCESS_KEY": infra.s3_access_key,
        "FIELDCREW_S3_SECRET_KEY": infra.s3_secret_key,
        "FIELDCREW_S3_SECURE": "true" if infra.s3_secure else "false",
        "FIELDCREW_JWT_PUBLIC_KEY_FILE": str(public_key),
        **{f"FIELDCREW_{s.upper()}_URL": f"http://127.0.0.1:{ports[s]}" for s in SERVICES},
        # where customers reach the gateway: share links start with it
        "FIELDCREW_PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
        # seals webhooks' URLs and secrets in the log: kept beside the token keys
        "FIELDCREW_WEBHOOK_KEY": persisted_secret(public_key.parent, "webhook_key"),
    }


# which kinds of server (EmbeddedServers.plan().kinds) a service needs to start
BACKENDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("nats",),
    "team": ("nats",),
    "photos": ("nats", "s3"),
    "aggregator": ("nats", "postgres"),
    "documents": ("nats", "s3"),
    "gateway": (),
}


@dataclass
class Stack:
    """The services of one system, each a child process logging to ``<logs>/<name>.log``.

    :meth:`start` runs them unsupervised (the tests' and benchmarks' way: a death is final);
    :meth:`children` describes them for a :class:`fieldcrew_cli.supervisor.Supervisor`."""

    logs: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, timeout: float = 60.0) -> None:
        """Start every service and wait until each is ready."""
        procs = launch_all(self.children(), timeout)
        self.processes = {name: proc for name, proc in zip(SERVICES, procs, strict=True)}

    def children(self, servers: Mapping[str, tuple[str, ...]] | None = None) -> list[Child]:
        """The six services as processes to run. ``servers`` (kind of server → names of its
        processes, :attr:`EmbeddedServers.plan().kinds`) makes each wait for what it needs."""
        kinds = servers or {}
        return [
            Child(
                name,
                functools.partial(self.launch, name),
                functools.partial(self.probe, name),
                requires=tuple(kinds[kind] for kind in BACKENDS[name] if kind in kinds),
            )
            for name in SERVICES
        ]

    def launch(self, name: str) -> ManagedProcess:
        """Start service ``name`` (``python -m fieldcrew_<name>``), logging to its file."""
        self.logs.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", f"fieldcrew_{name}"]
        return spawn(name, argv, log_dir=self.logs, cwd=Path.cwd(), env=self.env_of(name),
                     stop_timeout=15.0)  # fmt: skip

    def probe(self, name: str, proc: ManagedProcess | None = None) -> Readiness:
        """Service ``name``'s ``/readyz``: 200 is ready, anything else is not, with what the
        service says is wrong."""
        base = f"http://127.0.0.1:{self.ports[name]}"
        try:
            answer = httpx.get(f"{base}/readyz", timeout=5.0)
        except httpx.HTTPError as exc:
            return Readiness(False, f"no answer on {base} ({type(exc).__name__})")
        if answer.status_code == 200:
            return Readiness(True)
        try:
            problems = [f"{p['check']}: {p['error']}" for p in answer.json()["problems"]]
        except (ValueError, KeyError, TypeError):  # not the JSON /readyz answers with
            problems = [answer.text[:200]]
        return Readiness(False, f"{answer.status_code} {'; '.join(problems)}")

    def env_of(self, name: str) -> dict[str, str]:
        """The process environment of service ``name``: its own NATS user, nobody else's."""
        env = {**os.environ, **self.env, "FIELDCREW_PORT": str(self.ports[name])}
        own = env.get(nats_url_variable(name))
        for service in (*SERVICES, INTEGRATION_USER):
            env.pop(nats_url_variable(service), None)
        if name == "gateway":  # speaks HTTP only
            env.pop("FIELDCREW_NATS_URL", None)
        elif own:
            env["FIELDCREW_NATS_URL"] = own
        return env

    def dead(self) -> list[str]:
        """The services that have exited."""
        return [n for n, p in self.processes.items() if p.popen.poll() is not None]

    def stop(self) -> None:
        """SIGTERM every service together, then SIGKILL what is left after its timeout."""
        procs = [self.processes[name] for name in reversed(SERVICES) if name in self.processes]
        for proc in procs:
            proc.ask_to_stop()
        for proc in procs:
            proc.finish_stop()
        self.processes.clear()


def create_stream(nats_url: str, replicas: int = 1) -> None:
    """Create the event log's stream with the NATS admin at ``nats_url``, before any service
    starts (the services' own users may not create, change or delete it); when it is there,
    check it and update what could lose history (logged)."""

    async def create() -> None:
        nc = await connect(nats_url, name="fieldcrew-admin")
        store = EventStore(nc, source="fieldcrew/admin")
        deadline = time.monotonic() + 60
        try:
            while True:  # a cluster that just started may not place the replicas yet
                try:
                    return await store.ensure_stream(replicas=replicas, update=True)
                except BackendUnavailableError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.5)
        finally:
            await nc.drain()

    with ThreadPoolExecutor(1) as worker:  # its own event loop, whatever the caller runs
        worker.submit(asyncio.run, create()).result()
