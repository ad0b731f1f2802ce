"""PostgreSQL from the binaries bundled in the ``pgserver`` wheel (or found on ``PATH``).

We run ``postgres`` ourselves instead of calling ``pgserver.get_server()``: pgserver starts it
through ``pg_ctl`` (daemonized, so it outlives us and escapes our process group), keeps a
global lock and pid list, registers atexit hooks, and warns at import time when
``XDG_RUNTIME_DIR`` is unset (an error under ``filterwarnings = error``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from fieldcrew_cli.servers.child import Child, Readiness
from fieldcrew_cli.servers.process import (
    ManagedProcess,
    ServerStartError,
    account_ids,
    log_tail,
    spawn,
    wait_until,
)

DATABASE = "fieldcrew"
SUPERUSER = "postgres"
ROOT_RUNS_AS = "pgserver"  # postgres refuses to run as root; same account pgserver uses
_SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 107  # sizeof(sun_path) - 1


def postgres_bin_dir() -> Path:
    """``bin`` dir of the pgserver wheel's PostgreSQL, else of a ``postgres`` on ``PATH``."""
    spec = importlib.util.find_spec("pgserver")  # locate without importing (import has effects)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    on_path = shutil.which("postgres")
    if on_path and (Path(on_path).resolve().parent / "initdb").exists():
        return Path(on_path).resolve().parent
    raise ServerStartError("no PostgreSQL binaries: install pgserver or put postgres on PATH")


def service_user() -> str | None:
    """Account to run postgres as: ourselves, or (as root) ``pgserver``, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        account_ids(ROOT_RUNS_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", ROOT_RUNS_AS],
            check=True,
            capture_output=True,
        )
    return ROOT_RUNS_AS


def run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a fresh event loop in a worker thread (safe inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` unless it exists."""
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass(frozen=True)
class PostgresServer:
    """A cluster in ``root/data`` listening only on a Unix socket (no TCP, trust auth).

    The socket dir is mode 0700 and owned by the server account, so only that account
    (and root) can connect.
    """

    root: Path

    @property
    def pgdata(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """``root/run``, or a short dir under the temp dir if that path is too long."""
        preferred = self.root / "run"
        if len(os.fsencode(preferred / _SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"fieldcrew-pg-{digest}"

    def url(self, database: str = DATABASE) -> str:
        """asyncpg/libpq URL for ``database`` over the Unix socket."""
        return f"postgresql://{SUPERUSER}@/{database}?host={quote(str(self.socket_dir))}"

    def launch(self, log_dir: Path) -> ManagedProcess:
        """initdb on first use, then start ``postgres`` as a direct child."""
        bin_dir, user = postgres_bin_dir(), service_user()
        self._prepare_dirs(user, bin_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, user, log_dir / "postgres-initdb.log")
        argv = [
            str(bin_dir / "postgres"), "-D", str(self.pgdata),
            "-c", "listen_addresses=",
            "-c", f'unix_socket_directories="{self.socket_dir}"',
            "-c", "unix_socket_permissions=0700",
        ]  # fmt: skip
        # SIGINT = "fast shutdown": disconnect clients, checkpoint, exit.
        return spawn("postgres", argv, log_dir=log_dir, cwd=self.root, user=user,
                     stop_signal=signal.SIGINT, stop_timeout=30.0)  # fmt: skip

    def wait_ready(self, proc: ManagedProcess, deadline: float) -> None:
        """Wait for the postmaster to report ``ready``, then make sure the database exists."""
        wait_until(lambda: self.probe(proc).ready, proc, deadline)
        self.ensure_database()

    def child(self, log_dir: Path) -> Child:
        """This server as a process to run; once first ready, the database is made."""
        return Child("postgres", lambda: self.launch(log_dir), self.probe,
                     on_ready=self.ensure_database)  # fmt: skip

    def children(self, log_dir: Path) -> list[Child]:
        """Its processes: this one."""
        return [self.child(log_dir)]

    def probe(self, proc: ManagedProcess) -> Readiness:
        """Ready when ``proc``'s postmaster says so in its pid file."""
        state = self._postmaster_status(proc.popen.pid)
        return Readiness(state == "ready", f"postmaster {state or 'starting'}")

    def ensure_database(self) -> None:
        """Create the ``fieldcrew`` database unless it exists."""
        run_coroutine(ensure_database(self.url(SUPERUSER), DATABASE))

    def _postmaster_status(self, pid: int) -> str | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8 or lines[0].strip() != str(pid):  # absent, partial, or stale
            return None
        return lines[7].strip()

    def _prepare_dirs(self, user: str | None, bin_dir: Path) -> None:
        ids = account_ids(user)
        for directory in (self.root, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
            if ids is not None:
                os.chown(directory, *ids)
        if ids is not None:  # the pg account must reach its data dir and its binaries
            _make_traversable(self.root.parent)
            _make_traversable(bin_dir.parent)

    def _initdb(self, bin_dir: Path, user: str | None, log_path: Path) -> None:
        ids = account_ids(user)
        argv = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
                "--auth=trust", "--encoding=UTF8", "--locale=C"]  # fmt: skip
        with log_path.open("ab") as log:
            code = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.root, user=ids[0] if ids else None, group=ids[1] if ids else None,
                extra_groups=[] if ids else None, check=False,
            ).returncode  # fmt: skip
        if code != 0:
            raise ServerStartError(f"initdb failed ({code}); log {log_path}:\n{log_tail(log_path)}")


def _make_traversable(directory: Path) -> None:
    """Add o+x (search, not listing) to ``directory`` and its ancestors where it is missing.

    Needed when root runs postgres as another account. Note: every new pytest session
    resets ``/tmp/pytest-of-root`` to 0700, so don't use pytest's ``tmp_path`` for this.
    """
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
