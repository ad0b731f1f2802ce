"""Supervised background tasks: a failure is logged and the work starts again after a
backoff; ready only while it runs; stopped on request, cancelled when it will not stop."""

from __future__ import annotations

import asyncio

import pytest
from fieldcrew_shared.health import NotReadyError
from fieldcrew_shared.supervision import Backoff, Supervised, TaskState


async def test_work_that_fails_or_returns_is_started_again_until_it_stays_up() -> None:
    starts: list[int] = []
    up = asyncio.Event()
    stop = asyncio.Event()

    async def work() -> None:
        starts.append(len(starts))
        if len(starts) == 1:
            raise KeyError("a bug")
        if len(starts) == 2:
            return  # ended on its own: a failure too
        up.set()
        await stop.wait()

    task = Supervised("work", work, on_stop=stop.set, backoff=Backoff(first=0.01))
    task.start()
    async with asyncio.timeout(10):
        await up.wait()
    assert (await task.check()) == {"state": "running", "failures": 2}
    assert task.last_error == "it returned before it was asked to stop"
    await task.stop()
    assert task.state is TaskState.stopped and len(starts) == 3
    with pytest.raises(NotReadyError, match="work is stopped"):
        await task.check()


async def test_work_that_ignores_the_stop_is_cancelled_after_the_grace() -> None:
    cancelled = asyncio.Event()
    running = asyncio.Event()

    async def stubborn() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = Supervised("stubborn", stubborn)
    task.start()
    await running.wait()
    await task.stop(grace=0.05)
    assert cancelled.is_set() and task.state is TaskState.stopped
