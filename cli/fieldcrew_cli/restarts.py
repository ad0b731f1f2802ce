"""The supervisor's rules and its record of each child: when to restart, when to give up.

See :mod:`fieldcrew_cli.supervisor` and docs/adr/0020.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from fieldcrew_cli import status
from fieldcrew_cli.servers.child import Child, Readiness
from fieldcrew_cli.servers.process import ManagedProcess, log_tail

log = logging.getLogger("fieldcrew.supervisor")


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a child that died, and when to give up."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0  # up this long: the next restart waits first_delay again
    loop_exits: int = 5  # this many exits of one child ...
    loop_window: float = 60.0  # ... within this many seconds is a crash loop
    restart: bool = True  # False: record the exit, restart nothing (a child's death is final)

    def delay(self, attempt: int) -> float:
        """Seconds before restart number ``attempt`` (0 = the first since it was stable)."""
        return float(min(self.max_delay, self.first_delay * 2**attempt))


class CrashLoopError(RuntimeError):
    """A child exited too often in too short a time; the supervisor stopped everything."""


def how_it_ended(code: int) -> str:
    """``exited with code 3`` or ``killed by SIGKILL``, from a ``Popen.returncode``."""
    if code < 0:
        return f"killed by {status.signal_name(-code)}"
    return f"exited with code {code}"


@dataclass
class ChildState:
    """What the supervisor knows of one child (guarded by its lock)."""

    child: Child
    proc: ManagedProcess | None = None
    started: float = 0.0  # monotonic, of the current process
    started_wall: float = 0.0
    restarts: int = 0
    attempt: int = 0
    restart_at: float | None = 0.0  # monotonic; 0: launch at once; None: do not launch
    exits: deque[float] = field(default_factory=deque)
    readiness: Readiness = field(default_factory=lambda: Readiness(False, "not started"))
    generation: int = 0
    last_exit: str | None = None
    last_exit_wall: float | None = None
    waiting_for: tuple[str, ...] = ()
    held: bool = False  # stopped on purpose: restarted only when released

    def row(self) -> status.ProcessRow:
        pid = self.proc.popen.pid if self.proc is not None else None
        return status.ProcessRow(
            name=self.child.name,
            pid=pid,
            up_since=self.started_wall if pid is not None else None,
            restarts=self.restarts,
            ready=self.readiness.ready,
            detail=self.readiness.detail,
            last_exit=self.last_exit,
            last_exit_at=self.last_exit_wall,
        )

    def record_launch(self, proc: ManagedProcess) -> None:
        """Record that the child runs (again) as ``proc``."""
        self.proc = proc
        self.readiness = Readiness(False, "starting")
        self.waiting_for = ()
        self.generation += 1
        if self.restart_at:  # 0.0 is the first launch
            self.restarts += 1
            log.info(
                "%s restarted (pid %d, restart %d)", self.child.name, proc.popen.pid,
                self.restarts,
            )  # fmt: skip
        self.restart_at = None

    def record_exit(
        self, how: str, log_path: Path | None, now: float, policy: RestartPolicy
    ) -> CrashLoopError | None:
        """Record that the child ended ``how`` at ``now`` and, by ``policy``, when it restarts
        (unless held down or restarts are off). A crash loop is returned, nothing scheduled."""
        name, up = self.child.name, now - self.started
        self.proc, self.generation = None, self.generation + 1
        self.last_exit, self.last_exit_wall = how, time.time()
        self.readiness = Readiness(False, how)
        self.restart_at = None
        if self.held:
            log.warning("%s %s after %.1f s up; held down", name, how, up)
            return None
        self.exits.append(now)
        while self.exits and now - self.exits[0] > policy.loop_window:
            self.exits.popleft()
        if not policy.restart:
            log.error("%s %s after %.1f s up; not restarted", name, how, up)
            return None
        if len(self.exits) >= policy.loop_exits:
            tail = f" Its log, {log_path}, ends with:\n{log_tail(log_path, 15)}" if log_path else ""
            return CrashLoopError(
                f"{name} is crash-looping: it ended {len(self.exits)} times within "
                f"{policy.loop_window:.0f} s (last: {how}); stopping everything.{tail}"
            )
        if up >= policy.stable_after:
            self.attempt = 0
        delay = policy.delay(self.attempt)
        self.attempt += 1
        self.restart_at = now + delay
        log.warning("%s %s after %.1f s up; restarting in %.1f s", name, how, up, delay)
        return None
