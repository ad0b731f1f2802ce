"""Backing servers of a test module's own, for tests that pause, stop and start them again.

The session's servers (``tests/conftest.py``) are shared by every test: a fault test must
never pause or stop those. :class:`OwnServers` starts the same real servers (NATS JetStream
with the per-service users, PostgreSQL, and S3 when asked) on free ports in a folder of its
own, and injects faults for real: ``pause`` sends SIGSTOP to the server and every process
under it (PostgreSQL's backends included), ``resume`` SIGCONT, ``stop`` shuts it down, ``start``
starts it again on the same data.
"""

from __future__ import annotations

import secrets
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil
from fieldcrew_cli.servers import Infra, Ports
from fieldcrew_cli.servers.nats_server import SERVICE_USERS, NatsServer
from fieldcrew_cli.servers.postgres_server import PostgresServer, run_coroutine
from fieldcrew_cli.servers.process import ManagedProcess
from fieldcrew_cli.servers.s3_server import SeaweedS3Server
from fieldcrew_shared.eventstore import EventStore, connect

START_TIMEOUT = 60.0


class _Server(Protocol):
    def launch(self, log_dir: Path) -> ManagedProcess: ...
    def wait_ready(self, proc: ManagedProcess, deadline: float) -> None: ...


class OwnServers:
    """NATS and PostgreSQL (and S3 with ``s3=True``) for one test module."""

    def __init__(self, *, s3: bool = False, duplicate_window: float = 120.0) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fieldcrew-own-")
        root = Path(self._folder.name)
        self.logs = root / "logs"
        self.logs.mkdir()
        self.ports = Ports.free()
        passwords = {name: secrets.token_hex(16) for name in SERVICE_USERS}
        nats = NatsServer(root / "nats", self.ports.nats, None, secrets.token_hex(16), passwords)
        self.servers: dict[str, _Server] = {"nats": nats, "postgres": PostgresServer(root / "pg")}
        if s3:
            self.servers["s3"] = SeaweedS3Server(root / "s3", self.ports, secrets.token_hex(16))
        self.procs: dict[str, ManagedProcess] = {}
        self.duplicate_window = duplicate_window
        self.paused: set[str] = set()

    def __enter__(self) -> OwnServers:
        try:
            for name in self.servers:
                self.procs[name] = self.servers[name].launch(self.logs)
            for name in self.servers:
                self.servers[name].wait_ready(self.procs[name], time.monotonic() + START_TIMEOUT)
            run_coroutine(self._create_stream())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def infra(self) -> Infra:
        nats = self.servers["nats"]
        pg = self.servers["postgres"]
        assert isinstance(nats, NatsServer) and isinstance(pg, PostgresServer)
        s3 = self.servers.get("s3")
        endpoint, access, secret, secure = (
            s3.settings if isinstance(s3, SeaweedS3Server) else ("127.0.0.1:9", "-", "-", False)
        )
        return Infra(nats.url, pg.url(), endpoint, access, secret, secure, nats.service_urls)

    def pause(self, name: str) -> None:
        """SIGSTOP the server and every process under it (PostgreSQL's backends put
        themselves in process groups of their own): it holds its connections and answers
        nothing."""
        server = psutil.Process(self.procs[name].popen.pid)
        server.send_signal(signal.SIGSTOP)  # first, so that it starts no one new
        for child in server.children(recursive=True):
            child.send_signal(signal.SIGSTOP)
        self.paused.add(name)

    def resume(self, name: str) -> None:
        server = psutil.Process(self.procs[name].popen.pid)
        for child in server.children(recursive=True):
            child.send_signal(signal.SIGCONT)
        server.send_signal(signal.SIGCONT)
        self.paused.discard(name)

    def stop(self, name: str) -> None:
        """Shut the server down (its own clean way); its data stays."""
        self.procs.pop(name).stop()

    def start(self, name: str) -> None:
        """Start a stopped server again on the same data and ports; wait until it answers."""
        proc = self.procs[name] = self.servers[name].launch(self.logs)
        self.servers[name].wait_ready(proc, time.monotonic() + START_TIMEOUT)

    def close(self) -> None:
        for name in list(self.paused):
            self.resume(name)
        for name in reversed(list(self.procs)):
            self.procs.pop(name).stop()
        self._folder.cleanup()

    async def _create_stream(self) -> None:
        nc = await connect(self.infra.nats_url, name="own-servers-admin")
        try:
            store = EventStore(nc, source="fieldcrew/admin")
            await store.ensure_stream(duplicate_window=self.duplicate_window)
        finally:
            await nc.drain()
