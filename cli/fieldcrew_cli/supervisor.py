"""Keep processes running: restart what dies, with backoff; stop everything on a crash loop.

``fieldcrew run`` supervises the servers (NATS, PostgreSQL, S3) and the five services with a
:class:`Supervisor`; tests use one to run processes that they kill on purpose. A process is
described by a :class:`Child`: how to launch it, how to tell whether it is ready, and which
other children must be ready before it is (re)started. The supervisor:

- logs who died, how (exit code or signal name), after how long, and when it restarts;
- restarts it after 0.5 s, doubling up to 30 s; after 30 s up, the next wait is 0.5 s again;
- on a crash loop (5 exits of one process within 60 s) stops every child and reports
  :class:`CrashLoopError` from :meth:`Supervisor.wait`;
- probes each child's readiness in a thread of its own (a hung child slows nobody else);
- writes what it sees to a status file (``fieldcrew status`` prints it).

The policy's numbers are settings (:class:`RestartPolicy`); see docs/adr/0020.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from fieldcrew_cli import status
from fieldcrew_cli.restarts import ChildState, CrashLoopError, RestartPolicy, how_it_ended
from fieldcrew_cli.servers.child import Child, Readiness, launch_all
from fieldcrew_cli.servers.process import ManagedProcess

log = logging.getLogger("fieldcrew.supervisor")
__all__ = ["Child", "CrashLoopError", "Readiness", "RestartPolicy", "Supervisor", "launch_all"]


class Supervisor:
    """Runs :class:`Child` processes and keeps them running (see the module docstring).

    ``start`` may be called several times (servers first, then what needs them); ``stop``
    stops every child, the last started first; ``wait`` blocks until a crash loop ended
    everything (or a timeout)."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        *,
        status_file: Path | None = None,
        poll: float = 0.1,
        probe_every: float = 1.0,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.status_file = status_file
        self.poll, self.probe_every = poll, probe_every
        self._slots: dict[str, ChildState] = {}
        self._groups: list[list[str]] = []
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._done = threading.Event()
        self._failure: CrashLoopError | None = None
        self._stopping = False
        self._monitor: threading.Thread | None = None
        self._started_wall = time.time()
        self._status_due = 0.0

    # -- public interface -------------------------------------------------------------------

    def start(self, children: Sequence[Child], timeout: float = 60.0) -> None:
        """Launch ``children`` (each once its ``requires`` are ready) and wait until every one
        is ready and its ``on_ready`` has run. Raises :class:`CrashLoopError` if they cannot
        be kept up, ``TimeoutError`` after ``timeout`` seconds."""
        with self._lock:
            for child in children:
                if child.name in self._slots:
                    raise ValueError(f"{child.name} is supervised already")
                self._slots[child.name] = ChildState(child)
            self._groups.append([child.name for child in children])
        for child in children:
            threading.Thread(
                target=self._probe_loop, args=(child.name,), name=f"probe-{child.name}", daemon=True
            ).start()
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._monitor.start()
        deadline = time.monotonic() + timeout
        for child in children:
            self._await_ready(child.name, deadline)
            if child.on_ready is not None:
                child.on_ready()

    def wait(self, timeout: float | None = None) -> CrashLoopError | None:
        """Block until the supervisor gave up (returns why) or ``timeout`` passed (None)."""
        self._done.wait(timeout)
        return self._failure

    def stop(self) -> None:
        """Stop every child (the last group started first, each group's children together),
        restarting nothing any more. Idempotent; the data of the children stays."""
        with self._lock:
            self._stopping = True
            groups = [list(group) for group in reversed(self._groups)]
        for group in groups:
            procs = [p for name in group if (p := self._slots[name].proc) is not None]
            for proc in procs:
                proc.ask_to_stop()
            for proc in procs:
                proc.finish_stop()
        self._closing.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join()
        with self._lock:
            for slot in self._slots.values():
                slot.proc, slot.readiness = None, Readiness(False, "stopped")
            self._status_due = 0.0
            rows = self._status_rows(time.monotonic())
            self._lock.notify_all()
        self._write_status(rows)
        self._done.set()

    def pid(self, name: str) -> int | None:
        """The pid of child ``name`` now (None while it is down)."""
        with self._lock:
            proc = self._slots[name].proc
            return proc.popen.pid if proc is not None else None

    def rows(self) -> list[status.ProcessRow]:
        """Every child as ``fieldcrew status`` shows it."""
        with self._lock:
            return [slot.row() for slot in self._slots.values()]

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Block until the named children (all by default) are up and ready."""
        deadline = time.monotonic() + timeout
        for name in list(names if names is not None else self._slots):
            self._await_ready(name, deadline)

    def hold_down(self, name: str) -> None:
        """Stop child ``name`` its clean way and keep it down until :meth:`release`: an
        outage on purpose (a server stopped for maintenance, a fault test)."""
        with self._lock:
            slot = self._slots[name]
            slot.held, proc = True, slot.proc
        if proc is not None:
            proc.stop()  # the monitor then sees the exit, and restarts nothing

    def release(self, name: str) -> None:
        """Start a child held down by :meth:`hold_down` again (now, or once what it requires
        is ready)."""
        with self._lock:
            slot = self._slots[name]
            slot.held = False
            if slot.proc is None:
                slot.restart_at = time.monotonic()

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 60.0) -> int:
        """Block until ``name`` runs again under a pid other than ``old_pid`` and is ready;
        return the new pid."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._lock.wait_for(
                lambda: self._failure is not None or self._fresh_and_ready(name, old_pid),
                max(0.0, deadline - time.monotonic()),
            )
            self._raise_failure()
            if not self._fresh_and_ready(name, old_pid):
                raise TimeoutError(f"{name} was not restarted and ready in {timeout} s")
            proc = self._slots[name].proc
            assert proc is not None
            return proc.popen.pid

    # -- the monitor thread -----------------------------------------------------------------

    def _watch(self) -> None:
        while not self._closing.wait(self.poll):
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                for slot in self._slots.values():
                    self._check(slot, now)
                rows = self._status_rows(now)
                failure = self._failure
            self._write_status(rows)
            if failure is not None:
                log.error("%s", failure)
                self.stop()
                return

    def _check(self, slot: ChildState, now: float) -> None:
        proc = slot.proc
        if proc is not None and (code := proc.popen.poll()) is not None:
            proc.kill_group()  # what it left running (PostgreSQL's backends)
            proc.finish_stop()  # reaped already: only cleans up after it
            self._exited(slot, how_it_ended(code), proc.log_path, now)
        if slot.proc is None and slot.restart_at is not None and now >= slot.restart_at:
            missing = tuple(
                " or ".join(any_of)
                for any_of in slot.child.requires
                if not any(self._ready(name) for name in any_of)
            )
            if missing:
                if missing != slot.waiting_for:
                    log.warning("%s waits for %s", slot.child.name, ", ".join(missing))
                slot.waiting_for = missing
                return
            self._launch(slot, now)

    def _exited(self, slot: ChildState, how: str, log_path: Path | None, now: float) -> None:
        failure = slot.record_exit(how, log_path, now, self.policy)
        self._lock.notify_all()  # whoever waits for it learns of the exit, or of the failure
        if failure is not None:
            self._failure = failure

    def _launch(self, slot: ChildState, now: float) -> None:
        slot.started, slot.started_wall = now, time.time()
        try:
            proc = slot.child.launch()
        except Exception as exc:  # counted as an exit: restarted with backoff, or a crash loop
            log.exception("%s could not be launched", slot.child.name)
            self._exited(slot, f"failed to launch ({exc})", None, now)
            return
        slot.record_launch(proc)
        self._lock.notify_all()

    # -- readiness ----------------------------------------------------------------------------

    def _probe_loop(self, name: str) -> None:
        slot = self._slots[name]
        while not self._closing.is_set():
            with self._lock:
                generation, proc = slot.generation, slot.proc
            running = proc is not None
            if proc is not None:
                answer = self._probe(slot.child, proc)
                with self._lock:
                    if slot.generation == generation and slot.proc is not None:
                        if answer.ready and not slot.readiness.ready and slot.restarts:
                            log.info("%s is ready again", name)
                        slot.readiness = answer
                        self._lock.notify_all()
            pause = self.probe_every if running and slot.readiness.ready else self.poll
            self._closing.wait(pause)

    @staticmethod
    def _probe(child: Child, proc: ManagedProcess) -> Readiness:
        try:
            return child.probe(proc)
        except Exception as exc:  # a probe's own bug: shown as the child's readiness, not lost
            log.exception("readiness probe of %s failed", child.name)
            return Readiness(False, f"probe failed: {exc!r}")

    def _ready(self, name: str) -> bool:
        slot = self._slots.get(name)
        return slot is not None and slot.proc is not None and slot.readiness.ready

    def _fresh_and_ready(self, name: str, old_pid: int) -> bool:
        proc = self._slots[name].proc
        return proc is not None and proc.popen.pid != old_pid and self._ready(name)

    def _await_ready(self, name: str, deadline: float) -> None:
        with self._lock:
            slot = self._slots[name]
            self._lock.wait_for(
                lambda: (
                    self._failure is not None
                    or self._ready(name)
                    or (slot.restart_at is None and slot.proc is None)
                ),
                max(0.0, deadline - time.monotonic()),
            )
            self._raise_failure()
            if slot.proc is None and slot.restart_at is None:
                raise RuntimeError(f"{name} {slot.last_exit} while starting; see its log")
            if not self._ready(name):
                raise TimeoutError(f"{name} was not ready in time: {slot.readiness.detail}")

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    # -- status file --------------------------------------------------------------------------

    def _status_rows(self, now: float) -> list[status.ProcessRow] | None:
        """The rows to write now (once a second), or None."""
        if self.status_file is None or now < self._status_due:
            return None
        self._status_due = now + 1.0
        return [slot.row() for slot in self._slots.values()]

    def _write_status(self, rows: list[status.ProcessRow] | None) -> None:
        if self.status_file is not None and rows is not None:
            status.write(self.status_file, os.getpid(), self._started_wall, rows, self._stopping)
