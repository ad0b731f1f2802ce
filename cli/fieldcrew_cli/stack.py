"""Start the five services as their own processes (as ops deploy them), and stop them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fieldcrew_shared.eventstore import EventStore, connect

from fieldcrew_cli.servers import Infra

SERVICES = ("dispatch", "team", "photos", "aggregator", "gateway")
DEFAULT_PORTS = {
    "dispatch": 8181,
    "team": 8182,
    "photos": 8183,
    "aggregator": 8184,
    "gateway": 8080,
}


def nats_url_variable(service: str) -> str:
    """Where :func:`service_env` keeps ``service``'s own NATS URL."""
    return f"FIELDCREW_{service.upper()}_NATS_URL"


def service_env(infra: Infra, public_key: Path, ports: dict[str, int]) -> dict[str, str]:
    """The ``FIELDCREW_*`` settings of the system. ``FIELDCREW_NATS_URL`` is the NATS admin
    (for the CLI); :class:`Stack` gives each service its own user's URL from
    ``FIELDCREW_<SERVICE>_NATS_URL`` instead."""
    return {
        "FIELDCREW_NATS_URL": infra.nats_url,
        **{nats_url_variable(s): url for s, url in infra.nats_urls.items()},
        "FIELDCREW_DATABASE_URL": infra.database_url,
        "FIELDCREW_S3_ENDPOINT": infra.s3_endpoint,
        "FIELDCREW_S3_ACCESS_KEY": infra.s3_access_key,
        "FIELDCREW_S3_SECRET_KEY": infra.s3_secret_key,
        "FIELDCREW_S3_SECURE": "true" if infra.s3_secure else "false",
        "FIELDCREW_JWT_PUBLIC_KEY_FILE": str(public_key),
        **{f"FIELDCREW_{s.upper()}_URL": f"http://127.0.0.1:{ports[s]}" for s in SERVICES},
    }


@dataclass
class Stack:
    """The services of one system, each a child process logging to ``<logs>/<name>.log``."""

    logs: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, timeout: float = 60.0) -> None:
        """Start every service and wait until each answers its health check."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            with (self.logs / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"fieldcrew_{name}"],
                    env=self.env_of(name),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + timeout
        for name in SERVICES:
            self._wait_healthy(name, deadline)

    def env_of(self, name: str) -> dict[str, str]:
        """The process environment of service ``name``: its own NATS user, nobody else's."""
        env = {**os.environ, **self.env, "FIELDCREW_PORT": str(self.ports[name])}
        own = env.get(nats_url_variable(name))
        for service in SERVICES:
            env.pop(nats_url_variable(service), None)
        if name == "gateway":  # speaks HTTP only
            env.pop("FIELDCREW_NATS_URL", None)
        elif own:
            env["FIELDCREW_NATS_URL"] = own
        return env

    def _wait_healthy(self, name: str, deadline: float) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/healthz"
        while True:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.logs / (name + '.log')}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not answer {url}")
            time.sleep(0.05)

    def dead(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every service (gateway first), then SIGKILL what is left."""
        for name in reversed(SERVICES):
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()


def create_stream(nats_url: str) -> None:
    """Create the event log's stream with the NATS admin at ``nats_url``, before any service
    starts: the services' own users may not create (or change, or delete) it."""

    async def create() -> None:
        nc = await connect(nats_url, name="fieldcrew-admin")
        try:
            await EventStore(nc, source="fieldcrew/admin").ensure_stream()
        finally:
            await nc.drain()

    with ThreadPoolExecutor(1) as worker:  # its own event loop, whatever the caller runs
        worker.submit(asyncio.run, create()).result()
