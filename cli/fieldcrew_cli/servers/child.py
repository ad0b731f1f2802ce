"""A process to run: how to launch it, how to tell it is ready, what it needs first.

:class:`fieldcrew_cli.supervisor.Supervisor` keeps children running; :func:`launch_all`
starts them once, unsupervised (the test session's servers and services).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fieldcrew_cli.servers.process import ManagedProcess, wait_until


@dataclass(frozen=True)
class Readiness:
    """A probe's answer: ready or not, and what is wrong."""

    ready: bool
    detail: str = ""


@dataclass(frozen=True)
class Child:
    """One supervised process.

    ``launch`` starts it (called again on every restart); ``probe`` says whether the running
    process can do its job now (called from a thread of its own, it must time out by itself);
    ``requires`` lists what must be ready before it is (re)started, each entry the names of
    children of which one is enough (any node of a NATS cluster); ``on_ready`` runs once,
    when it is first seen ready (e.g. create a database)."""

    name: str
    launch: Callable[[], ManagedProcess]
    probe: Callable[[ManagedProcess], Readiness]
    requires: tuple[tuple[str, ...], ...] = ()
    on_ready: Callable[[], None] | None = None


def launch_all(children: Sequence[Child], timeout: float = 60.0) -> list[ManagedProcess]:
    """Start ``children`` unsupervised (a death is final; ``requires`` is not consulted):
    launch all of them, so that their start-ups overlap, then wait until each is ready and
    run its ``on_ready``. On any failure stop what was started; ``ServerStartError`` names
    the child that died or was not ready in time, with its log's tail."""
    procs: list[ManagedProcess] = []
    try:
        for child in children:
            procs.append(child.launch())
        deadline = time.monotonic() + timeout
        for child, proc in zip(children, procs, strict=True):
            wait_until(_ready_now(child, proc), proc, deadline)
            if child.on_ready is not None:
                child.on_ready()
    except BaseException:
        for proc in reversed(procs):
            proc.stop()
        raise
    return procs


def _ready_now(child: Child, proc: ManagedProcess) -> Callable[[], bool]:
    return lambda: child.probe(proc).ready
