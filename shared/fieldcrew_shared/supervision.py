"""Background tasks that never die silently (docs/adr/0026).

A :class:`Supervised` task runs a piece of work for the life of the process. When the work
raises, the exception is logged with its traceback, the task is *down* (its readiness check
fails, so ``/readyz`` answers 503), and after a backoff (0.5 s doubling to 10 s; back to
0.5 s once a run lasted a minute) the work starts again from the top. Work that returns
before it was asked to stop counts as a failure too. Stopping asks the work to finish
(``on_stop``), waits a grace period, then cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fieldcrew_shared.health import Details, NotReadyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next start: ``first`` doubling up to ``longest``; a run
    that lasted ``healthy_after`` seconds starts the count again."""

    first: float = 0.5
    longest: float = 10.0
    healthy_after: float = 60.0


class TaskState(StrEnum):
    starting = "starting"
    running = "running"
    down = "down"  # failed; waiting to start again
    stopped = "stopped"


class Supervised:
    """Runs ``work()`` until :meth:`stop`, restarting it with backoff whenever it fails."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        on_stop: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.work = work
        self.on_stop = on_stop
        self.backoff = backoff or Backoff()
        self.state = TaskState.starting
        self.failures = 0  # since the process started
        self.last_error: str | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start supervising (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=self.name)

    async def stop(self, grace: float = 10.0) -> None:
        """Ask the work to finish, wait up to ``grace`` seconds, then cancel it."""
        self._stopping.set()
        if self.on_stop is not None:
            self.on_stop()
        task = self._task
        if task is None or task.done():
            self.state = TaskState.stopped
            return
        done, _ = await asyncio.wait([task], timeout=grace)
        if not done:
            log.warning("background task did not stop in time", extra={"task": self.name})
            task.cancel()
            await asyncio.wait([task])
        self.state = TaskState.stopped

    async def check(self) -> Details:
        """Readiness: the work is running (not down after a failure, not stopped)."""
        if self.state is not TaskState.running:
            why = f": {self.last_error}" if self.last_error else ""
            raise NotReadyError(f"{self.name} is {self.state.value}{why}")
        return {"state": self.state.value, "failures": self.failures}

    async def _supervise(self) -> None:
        delay = self.backoff.first
        while not self._stopping.is_set():
            started = time.monotonic()
            self.state = TaskState.running
            try:
                await self.work()
            except Exception as exc:
                self._failed(f"{type(exc).__name__}: {exc}", exc, delay)
            else:
                if self._stopping.is_set():
                    break
                self._failed("it returned before it was asked to stop", None, delay)
            if time.monotonic() - started >= self.backoff.healthy_after:
                delay = self.backoff.first
            await self._wait(delay)
            delay = min(delay * 2, self.backoff.longest)
        self.state = TaskState.stopped

    def _failed(self, error: str, exc: Exception | None, delay: float) -> None:
        self.state = TaskState.down
        self.failures += 1
        self.last_error = error
        log.error(
            "background task failed; restarting",
            exc_info=exc,
            extra={"task": self.name, "why": error, "restart_in": delay},
        )

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less when asked to stop."""
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            pass
