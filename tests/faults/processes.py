"""The processes of one scenario's system, and what a fault does to them: kill, pause, stop.

Every process (a server or a service) is a :class:`Child` that knows how to launch itself.
:class:`Restarter` watches them from a thread and starts again, with backoff, any child that
died and is not held down on purpose, as a supervisor (systemd, Kubernetes, ``fieldcrew run``)
does in production. Each child leads its own process group (``start_new_session``), so a
signal to the group reaches a server's workers too (PostgreSQL's backends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX = 0.25, 4.0
HEALTHY_AFTER = 10.0  # seconds alive after which the next death starts the backoff again
POLL = 0.1


@dataclass
class Death:
    """One death the restarter saw: who, how (exit code; -N for signal N), when (monotonic)."""

    name: str
    returncode: int
    at: float


@dataclass
class Child:
    """A process of the system: ``launch()`` starts it and returns the running process."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    held: bool = False  # stopped on purpose: not restarted until released
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_FIRST
    next_try: float = 0.0
    on_stop: Callable[[], None] | None = None  # cleanup after the process is gone
    stop_signal: int = signal.SIGTERM  # its clean shutdown
    stop_timeout: float = 10.0  # before SIGKILL

    def start(self) -> None:
        self.proc = self.launch()
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group (nothing when it is gone)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def wait_gone(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait()
            if self.on_stop is not None:
                self.on_stop()


@dataclass
class Processes:
    """The children of one system by name, and the faults done to them."""

    children: dict[str, Child] = field(default_factory=dict)
    deaths: list[Death] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, child: Child) -> Child:
        self.children[child.name] = child
        return child

    def __getitem__(self, name: str) -> Child:
        return self.children[name]

    def kill(self, name: str) -> None:
        """``kill -9`` of the child's process group; the restarter brings it back."""
        with self.lock:
            child = self.children[name]
            child.signal_group(signal.SIGKILL)
            child.wait_gone()

    def pause(self, name: str) -> None:
        """``SIGSTOP``: the process is there (its sockets accept) but does nothing."""
        with self.lock:
            child = self.children[name]
            child.held = True  # a stopped process has not died; never restart it meanwhile
            child.signal_group(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        with self.lock:
            child = self.children[name]
            child.signal_group(signal.SIGCONT)
            child.held = False

    def hold_down(self, name: str, sig: int | None = None) -> None:
        """Stop the child (``sig`` to its group, by default its clean shutdown, then wait) and
        keep it down."""
        with self.lock:
            child = self.children[name]
            child.held = True
            child.signal_group(sig or child.stop_signal)
            child.wait_gone(child.stop_timeout)

    def release(self, name: str) -> None:
        """Start a held-down child again now."""
        with self.lock:
            child = self.children[name]
            child.held = False
            if not child.alive:
                child.start()

    def check(self) -> None:
        """One round of the restarter: start again what died (after its backoff)."""
        now = time.monotonic()
        with self.lock:
            for child in self.children.values():
                if child.held or child.proc is None or child.alive:
                    continue
                if child.next_try == 0.0:  # just found dead
                    code = child.proc.returncode
                    self.deaths.append(Death(child.name, code, now))
                    if child.on_stop is not None:
                        child.on_stop()
                    if now - child.started_at > HEALTHY_AFTER:
                        child.backoff = BACKOFF_FIRST
                    child.next_try = now + child.backoff
                    log.info("%s died (%s); restart in %.2f s", child.name, code, child.backoff)
                    child.backoff = min(child.backoff * 2, BACKOFF_MAX)
                elif now >= child.next_try:
                    child.next_try = 0.0
                    child.restarts += 1
                    child.start()

    def stop_all(self, order: list[str]) -> None:
        """Each child's clean shutdown, in ``order``; SIGKILL after its ``stop_timeout``."""
        with self.lock:
            for name in order:
                child = self.children[name]
                child.held = True
                child.signal_group(signal.SIGCONT)  # a paused child cannot act on a signal
                child.signal_group(child.stop_signal)
                child.wait_gone(child.stop_timeout)


class Restarter(threading.Thread):
    """Calls :meth:`Processes.check` every ``POLL`` seconds until :meth:`close`."""

    def __init__(self, processes: Processes) -> None:
        super().__init__(name="faults-restarter", daemon=True)
        self.processes = processes
        self._closing = threading.Event()

    def run(self) -> None:
        while not self._closing.wait(POLL):
            try:
                self.processes.check()
            except OSError:  # a launch that failed (e.g. its port still held): next round
                log.exception("restart failed")

    def close(self) -> None:
        self._closing.set()
        self.join()
