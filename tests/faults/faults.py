"""Faults, injected for real while the crews play: processes killed with ``SIGKILL`` or paused
with ``SIGSTOP``, servers stopped and started again; and what watches them (reads probed
through the gateway, the projection catching up). Each runs until the scenario stops it and
says when it has done at least what the scenario asked (``satisfied``); whatever it broke is
mended before it returns."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
import httpx
from fieldcrew_shared.auth import Role
from fieldcrew_shared.eventstore import EventStore, connect

from tests.faults.driver import KEEPALIVE, Driver
from tests.faults.ledger import Answer, Ledger
from tests.faults.projection import live_schema
from tests.faults.system import System

SIDE_ORDERS = 1_000_000  # numbers of the Writer's work orders, far from the crews'


class Fault(Protocol):
    """What a scenario runs beside the crews."""

    @property
    def satisfied(self) -> bool: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    def summary(self) -> dict[str, Any]: ...


async def pause_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; True when it was."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
        return True
    except TimeoutError:
        return False


@dataclass
class Killer:
    """``kill -9`` of a random process among ``names`` (``alternate``: each in turn),
    ``every`` seconds (uniform) after the last one is back and ready, at least ``at_least``
    times; the supervisor restarts it."""

    system: System
    rng: random.Random
    names: tuple[str, ...]
    every: tuple[float, float]
    at_least: int
    alternate: bool = False
    kills: list[tuple[float, str]] = field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return len(self.kills) >= self.at_least

    async def run(self, stop: asyncio.Event) -> None:
        while not await pause_unless(stop, self.rng.uniform(*self.every)):
            turn = self.names[len(self.kills) % len(self.names)]
            victim = turn if self.alternate else self.rng.choice(self.names)
            pid = self.system.supervisor.pid(victim)
            if pid is None or not self.system.kill(victim):
                continue
            self.kills.append((time.monotonic(), victim))
            restarted = self.system.supervisor.wait_restarted
            await asyncio.to_thread(restarted, victim, pid, 120.0)

    def summary(self) -> dict[str, Any]:
        victims: dict[str, int] = {}
        for _, name in self.kills:
            victims[name] = victims.get(name, 0) + 1
        return {"kills": len(self.kills), "victims": victims}


@dataclass
class Outage:
    """Server ``name`` stopped ``after`` seconds into the run, for ``seconds``, then started
    again (``how``: ``stop`` = its clean shutdown, held down by the supervisor; ``pause`` =
    SIGSTOP, the process there but answering nothing)."""

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
        if await pause_unless(stop, self.after):
            return
        system = self.system
        self.began = time.monotonic()
        if self.how == "pause":
            system.pause(self.name)
        else:
            await asyncio.to_thread(system.hold_down, self.name)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            if self.how == "pause":
                system.resume(self.name)
            else:
                system.release(self.name)
            self.ended = time.monotonic()

    def during(self, at: float) -> bool:
        """Whether time ``at`` fell inside the outage."""
        return self.began <= at and (not self.ended or at <= self.ended)

    def summary(self) -> dict[str, Any]:
        return {"server": self.name, "how": self.how, "outage_s": round(self.ended - self.began, 1)}


@dataclass
class Prober:
    """Reads through the gateway every ``every`` seconds, as an office screen would: the
    list of work orders, and a completed one's server report. Answers go to ``answers``."""

    system: System
    ledger: Ledger
    every: float = 0.5
    answers: list[tuple[str, Answer]] = field(default_factory=list)  # path, answer

    @property
    def satisfied(self) -> bool:
        return True

    async def run(self, stop: asyncio.Event) -> None:
        token = self.system.token("chaos-office", Role.dispatcher)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"{self.system.gateway}/api/v1"
        # A client keeps idle connections for less than the gateway's keep-alive (README:
        # Clients), or a read can meet a connection the gateway is closing as it is sent.
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=30.0, limits=limits
        ) as http:
            while not await pause_unless(stop, self.every):
                done = [o.id for o in self.ledger.orders.values() if o.report]
                paths = ["/work-orders?limit=5"]
                paths += [f"/work-orders/{done[-1]}/server-report"] if done else []
                await asyncio.gather(*(self._read(http, path) for path in paths))

    async def _read(self, http: httpx.AsyncClient, path: str) -> None:
        began = time.monotonic()
        try:
            r = await http.get(path)
        except httpx.TransportError as exc:
            now = time.monotonic()
            self.answers.append(
                (path, Answer("read", 0, now - began, now, error=type(exc).__name__))
            )
            return
        now = time.monotonic()
        answer = Answer("read", r.status_code, now - began, now, r.headers.get("retry-after"))
        self.answers.append((path, answer))

    def summary(self) -> dict[str, Any]:
        return {"reads": len(self.answers)}


@dataclass
class Writer:
    """Every ``every`` seconds a work order issued and its leader's note
    (:meth:`Driver.side_order`), so that commands which need neither PostgreSQL nor S3 are
    sent, and must be acknowledged, while an outage holds the crews up."""

    driver: Driver
    every: float = 1.0
    written: int = 0

    @property
    def satisfied(self) -> bool:
        return True

    async def run(self, stop: asyncio.Event) -> None:
        async with self.driver.client() as http:
            while not await pause_unless(stop, self.every):
                await self.driver.side_order(http, SIDE_ORDERS + self.written)
                self.written += 1

    def summary(self) -> dict[str, Any]:
        return {"side_orders": self.written}


@dataclass
class Catchup:
    """Once ``outage`` is over: how long the projection takes to apply everything the log
    held when the server came back (reports converge)."""

    system: System
    outage: Outage
    seconds: float | None = None

    @property
    def satisfied(self) -> bool:
        return self.seconds is not None

    async def run(self, stop: asyncio.Event) -> None:
        while not self.outage.ended:
            if await pause_unless(stop, 0.1):
                return
        nc = await connect(self.system.nats_admin_url, name="chaos-catchup")
        target = await EventStore(nc, source="chaos").last_sequence()
        await nc.drain()
        while not await pause_unless(stop, 0.2):
            if await self._position() >= target:
                self.seconds = time.monotonic() - self.outage.ended
                return

    async def _position(self) -> int:
        try:
            conn = await asyncpg.connect(self.system.database_url, timeout=2.0)
        except (OSError, asyncpg.PostgresError):
            return 0  # not back yet
        try:
            schema = await live_schema(conn)
            return int(await conn.fetchval(f"SELECT position FROM {schema}.checkpoint"))
        finally:
            await conn.close()

    def summary(self) -> dict[str, Any]:
        return {"caught_up_after_s": None if self.seconds is None else round(self.seconds, 1)}
