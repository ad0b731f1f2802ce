"""Child-process plumbing shared by the embedded servers: spawn, wait, stop."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None  # libc symbols of this process
# PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process.
# Forking every child from this one long-lived thread makes "start() called from a
# short-lived worker thread" safe: the children die with the process, not with that thread.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldcrew-spawner")
POLL_INTERVAL = 0.05


class ServerStartError(RuntimeError):
    """An embedded server could not be started (binary missing, crashed, or not ready in time)."""


def find_binary(name: str) -> Path:
    """Locate an executable, preferring the venv's own ``bin`` dir over ``PATH``."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        raise ServerStartError(f"{name!r} not found in {Path(sys.executable).parent} or on PATH")
    return Path(found)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def account_ids(user: str | None) -> tuple[int, int] | None:
    """``(uid, gid)`` of a system user, or ``None`` to run as the current user."""
    if user is None:
        return None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _die_with_parent(sig: int, parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies."""

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died before prctl() took effect
            os._exit(1)

    return preexec


@dataclass
class ManagedProcess:
    """A server process started by :func:`spawn`, leader of its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int
    stop_timeout: float
    after_stop: Callable[[], None] | None = None

    def check_alive(self) -> None:
        """Raise :class:`ServerStartError` (with the log tail) if the process has exited."""
        code = self.popen.poll()
        if code is not None:
            log = f"log {self.log_path}:\n{log_tail(self.log_path)}"
            raise ServerStartError(f"{self.name} exited with code {code}; {log}")

    def stop(self) -> None:
        """Send the graceful stop signal, then SIGKILL the whole group after the timeout."""
        self.ask_to_stop()
        self.finish_stop()

    def ask_to_stop(self) -> None:
        """Send the graceful stop signal (once is enough: a second SIGTERM or SIGINT makes
        uvicorn skip its graceful shutdown)."""
        if self.popen.poll() is None:
            self.popen.send_signal(self.stop_signal)

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group of a leader that has ended."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def finish_stop(self) -> None:
        """Wait up to the stop timeout for the process to end, then SIGKILL its group; clean
        up after it (also after a crash)."""
        if self.popen.poll() is None:
            try:
                self.popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # leader still alive: group is ours
                self.popen.wait()
        if self.after_stop is not None:
            self.after_stop()


def spawn(
    name: str,
    argv: list[str],
    *,
    log_dir: Path,
    cwd: Path,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 10.0,
    death_signal: int | None = None,
    user: str | None = None,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start ``argv`` in its own session, logging to ``log_dir/<name>.log`` (with ``env``,
    or this process's environment).

    The child gets ``death_signal`` (default: ``stop_signal``) if this process dies,
    so it never outlives us.
    """
    log_path = log_dir / f"{name}.log"
    ids = account_ids(user)
    with log_path.open("ab") as log:
        log.write(f"\n=== {datetime.now().isoformat()} {shlex.join(argv)}\n".encode())
        log.flush()
        popen = _SPAWNER.submit(
            subprocess.Popen,
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent(death_signal or stop_signal, os.getpid()),
            user=ids[0] if ids else None,
            group=ids[1] if ids else None,
            extra_groups=[] if ids else None,
        ).result()
    return ManagedProcess(name, popen, log_path, stop_signal, stop_timeout)


def wait_until(ready: Callable[[], bool], proc: ManagedProcess, deadline: float) -> None:
    """Poll ``ready()`` until it is true; fail if ``proc`` dies or ``deadline`` passes."""
    while not ready():
        proc.check_alive()
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{proc.name} not ready in time; log {proc.log_path}:\n{log_tail(proc.log_path)}"
            )
        time.sleep(POLL_INTERVAL)
