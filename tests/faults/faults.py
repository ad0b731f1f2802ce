"""Faults, injected for real while the crews play: processes killed with ``SIGKILL`` or paused
with ``SIGSTOP``, servers stopped and started again. Each runs until the scenario stops it and
says when it has done at least what the scenario asked (``satisfied``); whatever it broke is
mended before it returns."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.faults.system import System


class Fault(Protocol):
    """What a scenario runs beside the crews."""

    @property
    def satisfied(self) -> bool: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    def summary(self) -> dict[str, Any]: ...


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when it was."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
        return True
    except TimeoutError:
        return False


@dataclass
class Killer:
    """``kill -9`` of a random process among ``names`` every ``every`` seconds (uniform),
    at least ``at_least`` times; the system's restarter brings each back."""

    system: System
    rng: random.Random
    names: tuple[str, ...]
    every: tuple[float, float]
    at_least: int
    kills: list[tuple[float, str]] = field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return len(self.kills) >= self.at_least

    async def run(self, stop: asyncio.Event) -> None:
        while not await _sleep(stop, self.rng.uniform(*self.every)):
            victim = self.rng.choice(self.names)
            if not self.system.processes[victim].alive:
                continue  # still coming back from the last kill: not a kill
            await asyncio.to_thread(self.system.processes.kill, victim)
            self.kills.append((time.monotonic(), victim))

    def summary(self) -> dict[str, Any]:
        victims: dict[str, int] = {}
        for _, name in self.kills:
            victims[name] = victims.get(name, 0) + 1
        return {"kills": len(self.kills), "victims": victims}


@dataclass
class Outage:
    """Server ``name`` stopped ``after`` seconds into the run, for ``seconds``, then started
    again (``how``: ``stop`` = a clean shutdown, ``pause`` = SIGSTOP, ``kill`` = SIGKILL and
    held down)."""

    system: System
    name: str
    seconds: float
    after: float
    how: str = "stop"
    began: float = 0.0
    ended: float = 0.0

    @property
    def satisfied(self) -> bool:
        return self.ended > 0.0

    async def run(self, stop: asyncio.Event) -> None:
        if await _sleep(stop, self.after):
            return
        processes = self.system.processes
        self.began = time.monotonic()
        if self.how == "pause":
            processes.pause(self.name)
        else:
            sig = signal.SIGKILL if self.how == "kill" else None
            await asyncio.to_thread(processes.hold_down, self.name, sig)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            if self.how == "pause":
                processes.resume(self.name)
            else:
                await asyncio.to_thread(processes.release, self.name)
            self.ended = time.monotonic()

    def summary(self) -> dict[str, Any]:
        return {"server": self.name, "how": self.how, "outage_s": round(self.ended - self.began, 1)}
