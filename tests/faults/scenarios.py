"""The scenarios, each in a full size (``make chaos``) and a CI size (``make test``).

A scenario starts its own system, plays crews through the gateway while its faults run,
keeps playing until it has played its work orders and its faults are satisfied, mends what
the faults broke, then waits for the projection to settle and checks everything
(:mod:`tests.faults.checker`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fieldcrew_cli.stack import SERVICES

from tests.faults.checker import Verdict, check
from tests.faults.driver import Driver, Plan
from tests.faults.faults import Fault, Killer
from tests.faults.ledger import Ledger
from tests.faults.poison import KINDS, Poisoner, Redeliveries
from tests.faults.system import Options, System

SEED = 20261212
CI_CREW_SIZE = 3


@dataclass
class Outcome:
    """One scenario's run: what was played, what was done to it, what the checks found."""

    scenario: str
    size: str
    seed: int
    seconds: float = 0.0
    ledger: Ledger = field(default_factory=Ledger)
    verdict: Verdict = field(default_factory=Verdict)
    faults: dict[str, Any] = field(default_factory=dict)
    stall: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    poison: dict[int, str] = field(default_factory=dict)  # published: seq -> kind


@dataclass
class Run:
    """What a scenario's body gets: its system, its driver and its ledger."""

    system: System
    driver: Driver
    ledger: Ledger
    rng: random.Random
    outcome: Outcome


async def drive(run: Run, orders: int, faults: list[Fault]) -> None:
    """Crews play until ``orders`` work orders were started and every fault is satisfied;
    then the faults stop (and mend) and the system must be whole again."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f.run(stop)) for f in faults]

    def enough() -> bool:
        return run.driver.started >= orders and all(f.satisfied for f in faults)

    began = time.monotonic()
    try:
        await run.driver.run(enough)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    run.outcome.stall = run.ledger.longest_stall(began, time.monotonic())
    for fault in faults:
        run.outcome.faults.update(fault.summary())
    await run.system.wait_all_healthy(within=120.0)


Body = Callable[[Run, bool], "asyncio.Future[None] | Any"]


async def play_scenario(
    name: str, full: bool, body: Body, *, options: Options | None = None, crews: int = 8,
    crew_size: int = 4, settle_timeout: float = 60.0, seed: int = SEED,
) -> Outcome:  # fmt: skip
    """Start the system, run ``body``, check; the system is gone when this returns."""
    outcome = Outcome(name, "full" if full else "ci", seed)
    began = time.monotonic()
    system = await asyncio.to_thread(System(options).start)
    phases = outcome.extra["phases_s"] = {"start": round(time.monotonic() - began, 1)}
    try:
        plan = Plan(crews=crews, crew_size=crew_size)
        driver = Driver(system, outcome.ledger, plan, seed=seed, tag=f"{name}{seed}")
        run = Run(system, driver, outcome.ledger, random.Random(seed), outcome)
        mark = time.monotonic()
        await body(run, full)
        phases["play"] = round(time.monotonic() - mark, 1)
        mark = time.monotonic()
        outcome.verdict = await check(
            system.nats_admin_url,
            system.database_url,
            outcome.ledger,
            settle_timeout,
            outcome.poison,
        )
        phases["check"] = round(time.monotonic() - mark, 1)
    except BaseException:
        print(system.log_tails(), flush=True)
        raise
    finally:
        deaths = [(d.name, d.returncode) for d in system.processes.deaths]
        outcome.extra["deaths"] = len(deaths)
        await asyncio.to_thread(system.close)
    outcome.seconds = time.monotonic() - began
    return outcome


# -- a. kill -9 of a random service ----------------------------------------------------------


async def kill_services(run: Run, full: bool) -> None:
    every, at_least, orders = ((10.0, 30.0), 20, 5000) if full else ((3.0, 8.0), 5, 200)
    killer = Killer(run.system, run.rng, SERVICES, every, at_least)
    await drive(run, orders, [killer])


# -- e. poison events and forced redeliveries -------------------------------------------------


async def bus_faults(run: Run, full: bool) -> None:
    orders, pauses = (1000, 20) if full else (100, 3)
    poisoner = Poisoner(run.system, run.ledger, run.rng, at_least=len(KINDS))
    redeliveries = Redeliveries(run.system, run.rng, at_least=pauses)
    await drive(run, orders, [poisoner, redeliveries])
    run.outcome.poison = dict(poisoner.published)


SCENARIOS: dict[str, tuple[str, Body, dict[str, Any]]] = {
    "a": ("kill -9 of a random service", kill_services, {"crews": 16}),
    "e": (
        "poison events, forced redeliveries, two aggregators",
        bus_faults,
        {"options": Options(aggregator_replicas=2)},
    ),
}


async def scenario(key: str, full: bool, seed: int = SEED) -> Outcome:
    _, body, kwargs = SCENARIOS[key]
    kwargs = dict(kwargs)
    if not full:  # fewer requests per work order, fewer at once: CI time on 2 cores
        kwargs["crews"], kwargs["crew_size"] = min(kwargs.get("crews", 8), 8), CI_CREW_SIZE
    return await play_scenario(f"{key}", full, body, seed=seed, **kwargs)
