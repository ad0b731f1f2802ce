"""Resident memory of the service processes: sampled while a run goes on, and the kernel's
high-water mark (``VmHWM``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType

import psutil


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def high_water_mb(pid: int) -> float:
    """Peak RSS since the process started, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


class RssSampler:
    """``async with RssSampler({"gateway": pid, ...}) as s:`` then ``s.peak_mb``."""

    def __init__(self, pids: dict[str, int], every: float = 0.1) -> None:
        self.pids = pids
        self.every = every
        self.peak_mb = dict.fromkeys(pids, 0.0)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._once()

    async def _sample(self) -> None:
        while True:
            self._once()
            await asyncio.sleep(self.every)  # a sampling period, not a wait for a result

    def _once(self) -> None:
        for name, pid in self.pids.items():
            self.peak_mb[name] = max(self.peak_mb[name], rss_mb(pid))
